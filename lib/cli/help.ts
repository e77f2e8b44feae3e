/**
 * `--help`: the main help, and each command's own, which lists exactly the options that command
 * accepts. Which those are is read from applicable.ts (`acceptedOptions`), the rules that refuse
 * the others, so the help and the refusals cannot drift apart.
 */
import { type CommandTable, findRow } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import { acceptedOptions, OWN_USAGE, usageLine } from './applicable.ts';

/** One option as help shows it: its long name (as the rules name it), its synopsis, what it does. */
type Entry = readonly [option: string, synopsis: string, text: string];

/** Help blocks in their order: a title and its options; a block none of whose options apply is left out. */
const BLOCKS: ReadonlyArray<readonly [title: string, entries: readonly Entry[]]> = [
  [
    'Options of this command',
    [
      ['role', '--role ROLE', 'the role to provision (default: the role already recorded)'],
      ['wait-lock', '--wait-lock SECONDS', 'wait for a held lock instead of failing with LOCKED'],
      [
        'dry-run',
        '--dry-run',
        'print the program that would run on the host (whole, as a host without\nthe cached host code gets it); run nothing',
      ],
      ['detach', '--detach', 'print the journal as soon as the operation runs'],
      ['operation-id', '--operation-id ID', 'idempotency: an id that already ran answers with its journal'],
    ],
  ],
  [
    'Targets (default: this machine; give at most one)',
    [
      ['host', '--host [USER@]HOST[:PORT]', 'over SSH'],
      ['ssm', '--ssm INSTANCE_ID', 'over AWS Systems Manager'],
      ['inventory', '--inventory FILE', 'a fleet run over the hosts of FILE that --select names'],
    ],
  ],
  [
    'SSH (with --host; --ssh-config and --accept-new-host-key with --inventory too)',
    [
      ['identity', '-i, --identity FILE', 'the private key'],
      ['known-hosts', '--known-hosts FILE', 'trust the host keys in FILE'],
      ['host-key', '--host-key SHA256:…', "trust this host key fingerprint (ssh-keygen -lf's SHA256:…)"],
      ['accept-new-host-key', '--accept-new-host-key', 'trust a host key seen for the first time'],
      ['jump', '-J, --jump [USER@]HOST[:PORT]', 'through this jump host'],
      ['port', '-p, --port PORT', 'the SSH port (default 22, or the ssh config)'],
      ['ssh-config', '-F, --ssh-config FILE', 'the ssh config (default ~/.ssh/config)'],
    ],
  ],
  [
    'SSM (with --ssm; --profile with --inventory too)',
    [
      ['region', '--region R', 'the AWS region (default AWS_REGION)'],
      ['profile', '--profile NAME', 'the AWS profile (default AWS_PROFILE)'],
    ],
  ],
  [
    'Fleet (with --inventory)',
    [
      ['select', '--select SELECTOR', 'names, group:NAME or a bare group, all (--limit is the same)'],
      ['max-concurrency', '--max-concurrency N|P%', 'targets at a time'],
      ['max-errors', '--max-errors N|P%', 'failures before the rest are skipped'],
      ['canary', '--canary N', 'targets to run one at a time first'],
      ['no-health-gate', '--no-health-gate', 'do not run heartbeat.appstack after each target'],
    ],
  ],
  [
    'Common options',
    [
      [
        'config',
        '--config FILE',
        'bootstrap.ini (default /etc/cloudiq/bootstrap.ini, or $BOOTSTRAP_CONFIG);\nnot with --inventory (its hosts name theirs)',
      ],
      [
        'state-dir',
        '--state-dir DIR',
        'state directory (default /var/bootstrap, or $BOOTSTRAP_STATE_DIR);\nnot with --inventory',
      ],
      ['json', '--json', 'print one JSON document'],
      ['callback', '--callback URL', 'POST the result there when the operation ends'],
      ['help', '-h, --help', 'this help'],
      ['version', '--version', 'print the version'],
    ],
  ],
];

/** `serve`'s and `demo`'s options, which mean other things there. */
const OWN_BLOCKS: Readonly<Record<string, readonly Entry[]>> = {
  serve: [
    ['port', '-p, --port PORT', 'the port on 127.0.0.1 (default 3000)'],
    ['inventory', '--inventory FILE', 'serve the hosts of FILE (default: the demo fleet under .demo/)'],
    ['json', '--json', 'an error that stops it as one JSON document'],
    ['help', '-h, --help', 'this help'],
    ['version', '--version', 'print the version'],
  ],
  demo: [
    ['help', '-h, --help', 'this help'],
    ['version', '--version', 'print the version'],
  ],
};

/** The words the CLI answers itself: their main-help line and what they do. */
const OWN_WORDS = [
  {
    word: 'serve',
    line: 'serve [--port 3000]',
    summary: 'the HTTP API, locally',
    text: 'Serves the HTTP API on 127.0.0.1 through the same handler the Lambda function runs.',
  },
  {
    word: 'demo',
    line: 'demo',
    summary: 'try everything against a demo host on this machine',
    text: 'Creates a demo host under .demo/ and runs provision, product.set, product.upgrade and the heartbeat against it.',
  },
];

const SYNOPSIS_WIDTH = 30;

/** One block: its title, then each option with its text aligned (continuation lines indented). */
function block(title: string, entries: readonly Entry[]): string {
  const lines = entries.map(([, synopsis, text]) => {
    const [first, ...rest] = text.split('\n');
    const head =
      synopsis.length < SYNOPSIS_WIDTH - 2
        ? `  ${synopsis.padEnd(SYNOPSIS_WIDTH - 2)}${first}`
        : `  ${synopsis}\n${' '.repeat(SYNOPSIS_WIDTH)}${first}`;
    return [head, ...rest.map((line) => `${' '.repeat(SYNOPSIS_WIDTH)}${line}`)].join('\n');
  });
  return `${title}:\n${lines.join('\n')}`;
}

/** The option blocks of `command`: only the options it accepts (see applicable.ts). */
function optionBlocks(command: string, table: CommandTable): string[] {
  const own = OWN_BLOCKS[command];
  if (own) return [block('Options', own)];
  const accepted = acceptedOptions(command, table);
  return BLOCKS.flatMap(([title, entries]) => {
    const shown = entries.filter(([option]) => accepted.has(option));
    return shown.length === 0 ? [] : [block(title, shown)];
  });
}

/** The help of one command word of `table`, or of `serve` / `demo`; undefined for any other word. */
export function commandHelpOf(command: string, table: CommandTable = COMMAND_TABLE): string | undefined {
  const row = findRow(table, command);
  const own = OWN_WORDS.find((word) => word.word === command);
  if (!row && !own) return undefined;
  const usage = row ? usageLine(row) : OWN_USAGE[command];
  const text = row ? row.cli.help : own?.text;
  return [`cloudiq-bootstrap ${usage}`, text, ...optionBlocks(command, table)].join('\n\n');
}

/** `cloudiq-bootstrap --help`: every command of `table` with its summary, and every option. */
export function mainHelp(table: CommandTable = COMMAND_TABLE): string {
  const commands = [
    ...table.map((row) => [usageLine(row), row.cli.summary]),
    ...OWN_WORDS.map((own) => [own.line, own.summary]),
  ].map(([line, summary]) => `  ${line!.padEnd(34)}${summary}`);
  const options = BLOCKS.map(([title, entries]) =>
    block(
      title === 'Options of this command' ? 'Options of some commands (see their --help)' : title,
      entries,
    ),
  );
  return `cloudiq-bootstrap — provision, configure, upgrade and watch CloudIQ servers

Usage: cloudiq-bootstrap [TARGET] COMMAND [ARGS] [OPTIONS]

Commands:
${commands.join('\n')}

${options.join('\n\n')}

Exit codes: 0 ok, 1 internal, 2 invalid request, 3 locked, 4 hook failed / fleet not all succeeded,
5 transport, 6 config error, 7 heartbeat.appstack not healthy (one server; in a fleet it fails the target). \`cloudiq-bootstrap COMMAND --help\` for one command.`;
}

/** `COMMAND --help`, or the main help for no command or a word that is none. */
export function helpFor(command: string | null, table: CommandTable = COMMAND_TABLE): string {
  const help = command === null ? undefined : commandHelpOf(command, table);
  return help ?? mainHelp(table);
}
