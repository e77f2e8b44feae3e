import { type AnyCommandRow, type CommandTable, findRow } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';

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

/** The words the CLI answers itself: their main-help line and their own help. */
const OWN_WORDS = [
  {
    word: 'serve',
    line: 'serve [--port 3000]',
    summary: 'the HTTP API, locally',
    help: `cloudiq-bootstrap serve [--port 3000] [--inventory FILE]\n\nServes the HTTP API on 127.0.0.1 through the same handler the Lambda function runs.`,
  },
  {
    word: 'demo',
    line: 'demo',
    summary: 'try everything against a demo host on this machine',
    help: `cloudiq-bootstrap demo\n\nCreates a demo host under .demo/ and runs provision, product.set, product.upgrade and the heartbeat against it.`,
  },
];

/** A command's usage line, as help and errors show it. */
function usageLine(row: AnyCommandRow): string {
  return row.cli.usage === '' ? row.name : `${row.name} ${row.cli.usage}`;
}

/** A command's own help: its usage, what it does, and the options a change or a long command takes. */
function commandHelp(row: AnyCommandRow): string {
  const options = [row.mutates === 'never' ? '' : MUTATING, row.long ? LONG : ''].filter(Boolean).join('\n');
  return [`cloudiq-bootstrap ${usageLine(row)}`, row.cli.help, ...(options ? [options] : [])].join('\n\n');
}

/** The help of one command word of `table`, or of `serve` / `demo`; undefined for any other word. */
export function commandHelpOf(command: string, table: CommandTable = COMMAND_TABLE): string | undefined {
  const row = findRow(table, command);
  if (row) return commandHelp(row);
  return OWN_WORDS.find((own) => own.word === command)?.help;
}

/** `cloudiq-bootstrap --help`: every command of `table` with its summary. */
export function mainHelp(table: CommandTable = COMMAND_TABLE): string {
  const commands = [
    ...table.map((row) => [usageLine(row), row.cli.summary]),
    ...OWN_WORDS.map((own) => [own.line, own.summary]),
  ].map(([line, summary]) => `  ${line!.padEnd(34)}${summary}`);
  return `cloudiq-bootstrap — provision, configure, upgrade and watch CloudIQ servers

Usage: cloudiq-bootstrap [TARGET] COMMAND [ARGS] [--json] [--callback URL] [--wait-lock SECONDS]

Commands:
${commands.join('\n')}

${TARGET}

Exit codes: 0 ok, 1 internal, 2 invalid request, 3 locked, 4 hook failed / fleet not all succeeded,
5 transport, 6 config error, 7 heartbeat.appstack not healthy (one server; in a fleet it fails the target). \`cloudiq-bootstrap COMMAND --help\` for one command.`;
}

export function helpFor(command: string | null, table: CommandTable = COMMAND_TABLE): string {
  const help = command === null ? undefined : commandHelpOf(command, table);
  return help === undefined ? mainHelp(table) : `${help}\n\n${TARGET}`;
}
