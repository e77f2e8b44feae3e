/**
 * Which options a command line may carry: a flag that does not apply to its command or target is
 * refused (INVALID_REQUEST) rather than silently ignored, so `--wait-lock 30 product.get …` or
 * `--role edge product.upgrade …` never looks as though it did something.
 */
import { BootstrapError } from '../errors.ts';
import { COMMAND_HELP } from './help.ts';

const LONG = new Set(['server.provision', 'product.upgrade']);
const MUTATING = new Set([...LONG, 'product.set']);

/** What the command line says, as the rules read it. */
interface Line {
  command: string;
  positionals: readonly string[];
  /** The options given, by their long names (`wait-lock`, not `waitLock`). */
  given: ReadonlySet<string>;
}

const mutating = (l: Line) =>
  MUTATING.has(l.command) || (l.command === 'server.mode' && l.positionals.length > 0);
const fleet = (l: Line) => l.given.has('inventory');
const ssh = (l: Line) => l.given.has('host');

/** Options that go only with some command lines; the others go with every operation. */
const RULES: Record<string, [(l: Line) => boolean, string]> = {
  'wait-lock': [
    mutating,
    'only a change takes the lock (product.set, server.mode MODE, server.provision, product.upgrade)',
  ],
  'dry-run': [
    mutating,
    'only a change has a program to show (product.set, server.mode MODE, server.provision, product.upgrade)',
  ],
  detach: [(l) => LONG.has(l.command), 'only server.provision and product.upgrade run long enough to detach'],
  'operation-id': [
    (l) => LONG.has(l.command),
    'only server.provision and product.upgrade take an operation id',
  ],
  role: [(l) => l.command === 'server.provision', 'only server.provision takes a role'],
  select: [fleet, 'it goes with --inventory FILE'],
  limit: [fleet, 'it goes with --inventory FILE'],
  'max-concurrency': [fleet, 'it goes with --inventory FILE'],
  'max-errors': [fleet, 'it goes with --inventory FILE'],
  canary: [fleet, 'it goes with --inventory FILE'],
  'no-health-gate': [
    (l) => fleet(l) && l.command === 'product.upgrade',
    'the health gate is for product.upgrade over --inventory FILE',
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

/** `serve` and `demo` take only these. */
const OWN: Record<string, ReadonlySet<string>> = {
  serve: new Set(['port', 'inventory', 'json', 'help']),
  demo: new Set(['help']),
};

/** The usage line of a command, for errors that point at it. */
export function usageOf(command: string | null): string {
  if (command !== null && Object.hasOwn(COMMAND_HELP, command))
    return `usage: ${COMMAND_HELP[command]!.split('\n')[0]}`;
  return 'see cloudiq-bootstrap --help';
}

/** Throws INVALID_REQUEST for the first option that does not apply to this command line. */
export function refuseInapplicable(line: Line): void {
  const own = OWN[line.command];
  for (const option of line.given) {
    if (option === 'help' || option === 'version') continue;
    if (own) {
      if (!own.has(option)) throw refusal(line.command, option, `${line.command} does not take it`);
      continue;
    }
    const rule = RULES[option];
    if (rule && !rule[0](line)) throw refusal(line.command, option, rule[1]);
  }
}

function refusal(command: string, option: string, why: string): BootstrapError {
  return new BootstrapError(
    'INVALID_REQUEST',
    `--${option} does not apply to ${command}: ${why}; ${usageOf(command)}`,
    { command, option: `--${option}` },
  );
}
