const TARGET = `Targets (default: this machine):
  --host [USER@]HOST[:PORT]   over SSH; with --identity FILE, --known-hosts FILE | --host-key SHA256:…,
                              --accept-new-host-key, --jump [USER@]HOST[:PORT]
  --ssm INSTANCE_ID           over AWS Systems Manager; --region R
  --inventory FILE --select SELECTOR
                              a fleet run (names, group:NAME or a bare group, all); --max-concurrency N|P%,
                              --max-errors N|P%, --canary N, --no-health-gate

Common options:
  --config FILE       bootstrap.ini (default /etc/cloudiq/bootstrap.ini, or $BOOTSTRAP_CONFIG)
  --state-dir DIR     state directory (default /var/bootstrap, or $BOOTSTRAP_STATE_DIR)
  --json              print one JSON document
  --callback URL      POST the result there when the operation ends
  -h, --help          this help`;

const MUTATING = `  --wait-lock SECONDS wait for a held lock instead of failing with LOCKED
  --dry-run           print the program that would run on the host (whole, as a host without
                      the cached host code gets it); run nothing`;

const LONG = `  --detach            print the journal as soon as the operation runs
  --operation-id ID   idempotency: an id that already ran answers with its journal`;

export const COMMAND_HELP: Record<string, string> = {
  'product.get': `cloudiq-bootstrap product.get PRODUCT [KEY]\n\nPrints a product's config (all keys, or one) and its state.`,
  'product.set': `cloudiq-bootstrap product.set PRODUCT KEY=VALUE…\n\nSets all the pairs at once, or none, under the lock. Only keys listed in the product's \`keys\` are accepted.\n\n${MUTATING}`,
  'server.mode': `cloudiq-bootstrap server.mode [MODE]\n\nWithout MODE prints the mode; with MODE sets it (one of [server] modes), under the lock.\n\n${MUTATING}`,
  'server.provision': `cloudiq-bootstrap server.provision [--role ROLE]\n\nRuns each product's provision hook in the role's order, under the lock; stops at the first failure.\nROLE defaults to the role already recorded. Waits for the end and prints the journal.\n\n${MUTATING}\n${LONG}`,
  'product.upgrade': `cloudiq-bootstrap product.upgrade PRODUCT VERSION\n\nRuns the product's upgrade hook with VERSION, under the lock; on success records the version.\nWaits for the end and prints the journal.\n\n${MUTATING}\n${LONG}`,
  'heartbeat.get': `cloudiq-bootstrap heartbeat.get\n\nMode, role, products with version and status, the lock's holder, the last operation, uptime and load.`,
  'heartbeat.appstack': `cloudiq-bootstrap heartbeat.appstack\n\nRuns every product's checks: healthy, degraded (some failing) or down (all failing).`,
  'operation.get': `cloudiq-bootstrap operation.get ID\n\nPrints the journal of one operation.`,
  serve: `cloudiq-bootstrap serve [--port 3000] [--inventory FILE]\n\nServes the HTTP API on 127.0.0.1 through the same handler the Lambda function runs.`,
  demo: `cloudiq-bootstrap demo\n\nCreates a demo host under .demo/ and runs provision, product.set, product.upgrade and the heartbeat against it.`,
};

export const MAIN_HELP = `cloudiq-bootstrap — provision, configure, upgrade and watch CloudIQ servers

Usage: cloudiq-bootstrap [TARGET] COMMAND [ARGS] [--json] [--callback URL] [--wait-lock SECONDS]

Commands:
  product.get PRODUCT [KEY]         a product's config and state
  product.set PRODUCT KEY=VALUE…    set config keys (all or none)
  server.mode [MODE]                print or set the server's mode
  server.provision [--role ROLE]    run every product's provision hook
  product.upgrade PRODUCT VERSION   run a product's upgrade hook
  heartbeat.get                     the server's state at a glance
  heartbeat.appstack                run every product's checks
  operation.get ID                  the journal of an operation
  serve [--port 3000]               the HTTP API, locally
  demo                              try everything against a demo host on this machine

${TARGET}

Exit codes: 0 ok, 1 internal, 2 invalid request, 3 locked, 4 hook failed / fleet not all succeeded,
5 transport, 6 config error, 7 heartbeat.appstack not healthy (one server; in a fleet it fails the target). \`cloudiq-bootstrap COMMAND --help\` for one command.`;

export function helpFor(command: string | null): string {
  if (command === null || !Object.hasOwn(COMMAND_HELP, command)) return MAIN_HELP;
  return `${COMMAND_HELP[command]}\n\n${TARGET}`;
}
