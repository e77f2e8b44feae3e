/**
 * Which options a command line may carry: a flag that does not apply to its command or target is
 * refused (INVALID_REQUEST) rather than silently ignored, so `--wait-lock 30 product.get …` or
 * `--role edge product.upgrade …` never looks as though it did something.
 */
import { BootstrapError } from '../errors.ts';
import {
  type AnyCommandRow,
  type CommandFlag,
  type CommandTable,
  findRow,
} from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';

/** What the command line says, as the rules read it. */
interface Line {
  command: string;
  positionals: readonly string[];
  /** The options given, by their long names (`wait-lock`, not `waitLock`). */
  given: ReadonlySet<string>;
}

type Rule = [(l: Line) => boolean, string];

const fleet = (l: Line) => l.given.has('inventory');
const ssh = (l: Line) => l.given.has('host');

/** `a`, `a and b`, `a, b and c`. */
function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** Options that go only with some command lines; the others go with every operation. */
function rulesOf(table: CommandTable): Record<string, Rule> {
  const row = (l: Line) => findRow(table, l.command);
  const mutating = (l: Line) => {
    const mutates = row(l)?.mutates;
    return mutates === 'always' || (mutates === 'when-given' && l.positionals.length > 0);
  };
  const long = (l: Line) => row(l)?.long === true;
  // How the changes are named: `server.mode MODE` changes only with its argument.
  const changes = table
    .filter((r) => r.mutates !== 'never')
    .map((r) => (r.mutates === 'when-given' ? `${r.name} ${r.cli.usage.replace(/[[\]]/g, '')}` : r.name))
    .join(', ');
  const longs = table.filter((r) => r.long).map((r) => r.name);
  const taking = (flag: CommandFlag) => table.filter((r: AnyCommandRow) => r.cli.flags?.includes(flag));
  const takes = (flag: CommandFlag) => (l: Line) => taking(flag).some((r) => r.name === l.command);
  const verb = (names: readonly unknown[], one: string, many: string) => (names.length === 1 ? one : many);
  const roles = taking('role').map((r) => r.name);
  const gated = taking('no-health-gate').map((r) => r.name);
  return {
    'wait-lock': [mutating, `only a change takes the lock (${changes})`],
    'dry-run': [mutating, `only a change has a program to show (${changes})`],
    detach: [long, `only ${listed(longs)} ${verb(longs, 'runs', 'run')} long enough to detach`],
    'operation-id': [long, `only ${listed(longs)} ${verb(longs, 'takes', 'take')} an operation id`],
    role: [takes('role'), `only ${listed(roles)} ${verb(roles, 'takes', 'take')} a role`],
    select: [fleet, 'it goes with --inventory FILE'],
    limit: [fleet, 'it goes with --inventory FILE'],
    'max-concurrency': [fleet, 'it goes with --inventory FILE'],
    'max-errors': [fleet, 'it goes with --inventory FILE'],
    canary: [fleet, 'it goes with --inventory FILE'],
    'no-health-gate': [
      (l) => fleet(l) && takes('no-health-gate')(l),
      `the health gate is for ${listed(gated)} over --inventory FILE`,
    ],
    identity: [ssh, 'it goes with --host'],
    'known-hosts': [ssh, 'it goes with --host'],
    'host-key': [ssh, 'it goes with --host'],
    jump: [ssh, 'it goes with --host'],
    port: [ssh, 'it goes with --host (the SSH port)'],
    'ssh-config': [(l) => ssh(l) || fleet(l), 'it goes with --host or --inventory'],
    'accept-new-host-key': [(l) => ssh(l) || fleet(l), 'it goes with --host or --inventory'],
    region: [(l) => l.given.has('ssm'), 'it goes with --ssm'],
    profile: [(l) => l.given.has('ssm') || fleet(l), 'it goes with --ssm or --inventory'],
  };
}

const DEFAULT_RULES = rulesOf(COMMAND_TABLE);

/** `serve` and `demo` take only these. */
const OWN: Record<string, ReadonlySet<string>> = {
  serve: new Set(['port', 'inventory', 'json', 'help']),
  demo: new Set(['help']),
};

/** SPEC 6's TARGET: one of these, or none for this machine. */
export const TARGET_OPTIONS = ['host', 'ssm', 'inventory'] as const;

/** Options that no rule limits: every operation takes them (as `--help` lists them). */
const EVERY_OPERATION = [
  'host',
  'ssm',
  'inventory',
  'config',
  'state-dir',
  'json',
  'callback',
  'help',
  'version',
];

/**
 * The options `command` accepts with some target (none, `--host`, `--ssm` or `--inventory`), by
 * their long names: what `--help` lists for it, read from the same rules that refuse the others.
 */
export function acceptedOptions(command: string, table: CommandTable = COMMAND_TABLE): ReadonlySet<string> {
  const own = OWN[command];
  // `--help` and `--version` are answered before any command runs: every word takes them.
  if (own) return new Set([...own, 'help', 'version']);
  const row = findRow(table, command);
  if (!row) return new Set();
  const rules = table === COMMAND_TABLE ? DEFAULT_RULES : rulesOf(table);
  // `server.mode MODE` is a change: its options are listed, as its help says when they apply.
  const positionals = row.mutates === 'when-given' ? ['ARG'] : [];
  const accepted = new Set(EVERY_OPERATION);
  for (const [option, [applies]] of Object.entries(rules)) {
    const lines = [undefined, ...TARGET_OPTIONS].map((target) => ({
      command,
      positionals,
      given: new Set([option, ...(target ? [target] : [])]),
    }));
    if (lines.some(applies)) accepted.add(option);
  }
  return accepted;
}

/** The usage of `serve` and `demo`, which the CLI answers itself. */
export const OWN_USAGE: Readonly<Record<string, string>> = {
  serve: 'serve [--port 3000] [--inventory FILE]',
  demo: 'demo',
};

/** A command's usage after the program's name, as help and errors show it. */
export function usageLine(row: AnyCommandRow): string {
  return row.cli.usage === '' ? row.name : `${row.name} ${row.cli.usage}`;
}

/** The usage line of a command, for errors that point at it. */
export function usageOf(command: string | null, table: CommandTable = COMMAND_TABLE): string {
  const row = command === null ? undefined : findRow(table, command);
  const line =
    row !== undefined
      ? usageLine(row)
      : command !== null && Object.hasOwn(OWN_USAGE, command)
        ? OWN_USAGE[command]
        : undefined;
  return line === undefined ? 'see cloudiq-bootstrap --help' : `usage: cloudiq-bootstrap ${line}`;
}

/** Throws INVALID_REQUEST for the first option that does not apply to this command line. */
export function refuseInapplicable(line: Line, table: CommandTable = COMMAND_TABLE): void {
  const rules = table === COMMAND_TABLE ? DEFAULT_RULES : rulesOf(table);
  const own = OWN[line.command];
  if (!own) refuseTwoTargets(line, table);
  for (const option of line.given) {
    if (option === 'help' || option === 'version') continue;
    if (own) {
      if (!own.has(option)) throw refusal(line.command, option, `${line.command} does not take it`, table);
      continue;
    }
    const rule = rules[option];
    if (rule && !rule[0](line)) throw refusal(line.command, option, rule[1], table);
  }
}

/**
 * SPEC 6's TARGET is one of `--host`, `--ssm` and `--inventory`: a command line naming two is
 * refused before anything runs, never resolved by picking one of them.
 */
function refuseTwoTargets(line: Line, table: CommandTable): void {
  const targets = TARGET_OPTIONS.filter((option) => line.given.has(option)).map((option) => `--${option}`);
  if (targets.length < 2) return;
  throw new BootstrapError(
    'INVALID_REQUEST',
    `${listed(targets)} name ${targets.length === 2 ? 'two' : 'three'} targets: give one of --host, --ssm or --inventory; ${usageOf(line.command, table)}`,
    { command: line.command, options: targets },
  );
}

function refusal(command: string, option: string, why: string, table: CommandTable): BootstrapError {
  return new BootstrapError(
    'INVALID_REQUEST',
    `--${option} does not apply to ${command}: ${why}; ${usageOf(command, table)}`,
    { command, option: `--${option}` },
  );
}
