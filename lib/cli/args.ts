import { parseArgs } from 'node:util';
import { assertOperationId } from '../config/names.ts';
import { nameRecord } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';
import type { CommandRequest } from '../operations/types.ts';
import { refuseInapplicable, usageOf } from './applicable.ts';

/** Every option of SPEC 6, with its type; `--help` of each command lists the ones that apply. */
const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  callback: { type: 'string' },
  'wait-lock': { type: 'string' },
  detach: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  role: { type: 'string' },
  'operation-id': { type: 'string' },
  host: { type: 'string' },
  identity: { type: 'string', short: 'i' },
  'known-hosts': { type: 'string' },
  'ssh-config': { type: 'string', short: 'F' },
  'host-key': { type: 'string' },
  'accept-new-host-key': { type: 'boolean' },
  jump: { type: 'string', short: 'J' },
  ssm: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  inventory: { type: 'string' },
  select: { type: 'string' },
  limit: { type: 'string' },
  'max-concurrency': { type: 'string' },
  'max-errors': { type: 'string' },
  canary: { type: 'string' },
  'no-health-gate': { type: 'boolean' },
  port: { type: 'string', short: 'p' },
} as const;

export type CliOptions = {
  json: boolean;
  help: boolean;
  version: boolean;
  detach: boolean;
  dryRun: boolean;
  acceptNewHostKey: boolean;
  noHealthGate: boolean;
  waitLockSeconds?: number;
} & Partial<
  Record<
    | 'callback'
    | 'config'
    | 'stateDir'
    | 'role'
    | 'operationId'
    | 'host'
    | 'identity'
    | 'knownHosts'
    | 'sshConfig'
    | 'hostKey'
    | 'jump'
    | 'ssm'
    | 'region'
    | 'profile'
    | 'inventory'
    | 'select'
    | 'maxConcurrency'
    | 'maxErrors'
    | 'canary'
    | 'port',
    string
  >
>;

export interface ParsedCli {
  /** The command word (`product.get`, `serve`, `demo`) or null for bare `--help` / `--version`. */
  command: string | null;
  positionals: string[];
  options: CliOptions;
}

export const COMMANDS = [
  'product.get',
  'product.set',
  'server.mode',
  'server.provision',
  'product.upgrade',
  'heartbeat.get',
  'heartbeat.appstack',
  'operation.get',
] as const;

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function parseCli(argv: readonly string[]): ParsedCli {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw unreadable(argv, error);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const options: CliOptions = {
    json: values['json'] === true,
    help: values['help'] === true,
    version: values['version'] === true,
    detach: values['detach'] === true,
    dryRun: values['dry-run'] === true,
    acceptNewHostKey: values['accept-new-host-key'] === true,
    noHealthGate: values['no-health-gate'] === true,
  };
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') (options as Record<string, unknown>)[camel(name)] = value;
  }
  // `--limit` is Ansible's word for `--select`.
  const limit = values['limit'];
  if (typeof limit === 'string') {
    if (options.select !== undefined)
      throw new BootstrapError(
        'INVALID_REQUEST',
        '--limit is another name for --select: give one of them',
        {},
      );
    options.select = limit;
  }
  delete (options as Record<string, unknown>)['limit'];
  const waitLock = values['wait-lock'];
  if (typeof waitLock === 'string') {
    if (!/^[0-9]{1,6}$/.test(waitLock))
      throw new BootstrapError(
        'INVALID_REQUEST',
        `--wait-lock takes whole seconds, not ${JSON.stringify(waitLock)}`,
      );
    options.waitLockSeconds = Number(waitLock);
  }
  if (options.operationId !== undefined) assertOperationId(options.operationId);
  const [command = null, ...positionals] = parsed.positionals;
  if (command !== null && COMMAND_WORDS.has(command))
    refuseInapplicable({ command, positionals, given: new Set(Object.keys(values)) });
  return { command, positionals, options };
}

const COMMAND_WORDS: ReadonlySet<string> = new Set([...COMMANDS, 'serve', 'demo']);

/**
 * parseArgs's own errors speak of its API ("To specify a positional argument starting with a
 * '-', place it at the end…"); the operator gets one line naming the option and the usage of the
 * command it was given to.
 */
function unreadable(argv: readonly string[], error: unknown): BootstrapError {
  const command = argv.find((arg) => COMMAND_WORDS.has(arg)) ?? null;
  const code = (error as { code?: string }).code;
  const option = /'(-{1,2}[^' =]+)/.exec((error as Error).message)?.[1] ?? '';
  const long = option.startsWith('--')
    ? option.slice(2)
    : Object.entries(OPTIONS).find(([, o]) => 'short' in o && `-${o.short}` === option)?.[0];
  const type =
    long !== undefined && Object.hasOwn(OPTIONS, long) ? OPTIONS[long as keyof typeof OPTIONS].type : null;
  const problem =
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? `unknown option ${option}`
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && type === 'string'
        ? `${option} needs a value`
        : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && type === 'boolean'
          ? `${option} takes no value`
          : 'the command line could not be read';
  return new BootstrapError('INVALID_REQUEST', `${problem}; ${usageOf(command)}`, {
    ...(option === '' ? {} : { option }),
    ...(command === null ? {} : { command }),
  });
}

function arity(command: string, positionals: string[], min: number, max: number, usage: string): void {
  if (positionals.length < min || positionals.length > max) {
    throw new BootstrapError('INVALID_REQUEST', `usage: cloudiq-bootstrap ${command} ${usage}`.trimEnd(), {
      command,
    });
  }
}

/** The request a command line stands for (SPEC 2.5's arguments). */
export function toRequest(command: string, positionals: string[], options: CliOptions): CommandRequest {
  const operationId = options.operationId === undefined ? {} : { operationId: options.operationId };
  switch (command) {
    case 'product.get':
      arity(command, positionals, 1, 2, 'PRODUCT [KEY]');
      return positionals[1] === undefined
        ? { command, product: positionals[0]! }
        : { command, product: positionals[0]!, key: positionals[1] };
    case 'product.set': {
      arity(command, positionals, 2, Number.POSITIVE_INFINITY, 'PRODUCT KEY=VALUE…');
      const values: Record<string, string> = nameRecord();
      for (const pair of positionals.slice(1)) {
        const eq = pair.indexOf('=');
        if (eq <= 0)
          throw new BootstrapError('INVALID_REQUEST', `expected KEY=VALUE, got ${JSON.stringify(pair)}`, {
            command,
          });
        const key = pair.slice(0, eq);
        if (Object.hasOwn(values, key))
          throw new BootstrapError('INVALID_REQUEST', `key ${key} given twice`, { command, key });
        values[key] = pair.slice(eq + 1);
      }
      return { command, product: positionals[0]!, values };
    }
    case 'server.mode':
      arity(command, positionals, 0, 1, '[MODE]');
      return positionals[0] === undefined ? { command } : { command, mode: positionals[0] };
    case 'server.provision':
      arity(command, positionals, 0, 0, '[--role ROLE]');
      return { command, ...(options.role === undefined ? {} : { role: options.role }), ...operationId };
    case 'product.upgrade':
      arity(command, positionals, 2, 2, 'PRODUCT VERSION');
      return { command, product: positionals[0]!, version: positionals[1]!, ...operationId };
    case 'heartbeat.get':
    case 'heartbeat.appstack':
      arity(command, positionals, 0, 0, '');
      return { command };
    case 'operation.get':
      arity(command, positionals, 1, 1, 'ID');
      return { command, operationId: positionals[0]! };
    default:
      throw new BootstrapError('INVALID_REQUEST', `unknown command ${JSON.stringify(command)}; see --help`, {
        command,
      });
  }
}
