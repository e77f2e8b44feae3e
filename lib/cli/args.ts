import { parseArgs } from 'node:util';
import { assertOperationId } from '../config/names.ts';
import { nameRecord } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';
import type { CommandRequest } from '../operations/types.ts';

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
    throw new BootstrapError('INVALID_REQUEST', (error as Error).message, {});
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
  return { command, positionals, options };
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
