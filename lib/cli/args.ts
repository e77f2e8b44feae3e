import { parseArgs } from 'node:util';
import { assertOperationId } from '../config/names.ts';
import { BootstrapError } from '../errors.ts';
import { type CommandTable, rowOf } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import type { CommandRequest } from '../operations/types.ts';
import { present } from '../optional.ts';
import { refuseInapplicable, usageOf } from './applicable.ts';
import { strictUtf8 } from './raw-argv.ts';

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

/** The long names of every option (what `--help` and applicable.ts speak of). */
export const OPTION_NAMES: readonly string[] = Object.keys(OPTIONS);

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

/** The command words of the command table, in its order. */
export const COMMANDS: readonly string[] = COMMAND_TABLE.map((row) => row.name);

/** Words the CLI answers itself, beside the table's commands. */
const OWN_WORDS = ['serve', 'demo'];

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Reads a command line (the commands of `table`, the registry's by default). */
export function parseCli(argv: readonly string[], table: CommandTable = COMMAND_TABLE): ParsedCli {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw unreadable(argv, error, table);
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
  if (command !== null && wordsOf(table).has(command))
    refuseInapplicable({ command, positionals, given: new Set(Object.keys(values)) }, table);
  return { command, positionals, options };
}

/**
 * SPEC 2.1 on the command line: an argument whose raw bytes (`raw`, aligned with `argv`; see
 * raw-argv.ts) are not valid UTF-8 is refused, never passed on with the U+FFFD node made of
 * them. The VALUE of product.set's `KEY=VALUE` is `INVALID_VALUE`, as the host would judge a
 * value; any other argument (a name, a key, an option's value) is `INVALID_REQUEST`. Each names
 * the argument by its position after the program.
 */
export function refuseUndecodable(argv: readonly string[], raw: readonly Buffer[] | null): void {
  if (raw === null || raw.length !== argv.length) return;
  const bad = raw.findIndex((bytes) => strictUtf8(bytes) === undefined);
  if (bad < 0) return;
  const argument = bad + 1;
  let tokens: ReturnType<typeof parseArgs>['tokens'] = [];
  try {
    tokens = parseArgs({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
      strict: false,
      tokens: true,
    }).tokens;
  } catch {
    // Unreadable otherwise too: the argument is named all the same.
  }
  const positionals = tokens.flatMap((t) => (t.kind === 'positional' ? [t] : []));
  const at = positionals.findIndex((t) => t.index === bad);
  const bytes = raw[bad]!;
  const eq = bytes.indexOf(0x3d);
  if (at >= 2 && positionals[0]?.value === 'product.set' && eq > 0) {
    const key = strictUtf8(bytes.subarray(0, eq));
    const product = positionals[1]!.value;
    // The product's name came before: valid, or it would have been the first refused.
    if (key !== undefined) {
      const reason = 'is not valid UTF-8';
      throw new BootstrapError(
        'INVALID_VALUE',
        `value for ${product}.${key} ${reason} (argument ${argument})`,
        {
          product,
          key,
          reason,
          argument,
        },
      );
    }
  }
  const option = tokens.find(
    (t) =>
      t.kind === 'option' && t.value !== undefined && (t.inlineValue ? t.index === bad : t.index + 1 === bad),
  );
  const name = option?.kind === 'option' ? option.rawName : undefined;
  const what = name === undefined ? `argument ${argument}` : `the value of ${name} (argument ${argument})`;
  throw new BootstrapError('INVALID_REQUEST', `${what} is not valid UTF-8: ${JSON.stringify(argv[bad])}`, {
    argument,
    ...(name === undefined ? {} : { option: name }),
  });
}

const wordsOf = (table: CommandTable): ReadonlySet<string> =>
  new Set([...table.map((row) => row.name), ...OWN_WORDS]);

/**
 * parseArgs's own errors speak of its API ("To specify a positional argument starting with a
 * '-', place it at the end…"); the operator gets one line naming the option and the usage of the
 * command it was given to.
 */
function unreadable(argv: readonly string[], error: unknown, table: CommandTable): BootstrapError {
  const words = wordsOf(table);
  const command = argv.find((arg) => words.has(arg)) ?? null;
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
  return new BootstrapError('INVALID_REQUEST', `${problem}; ${usageOf(command, table)}`, {
    ...(option === '' ? {} : { option }),
    ...(command === null ? {} : { command }),
  });
}

function arity(command: string, positionals: string[], [min, max]: readonly [number, number], usage: string) {
  if (positionals.length < min || positionals.length > max) {
    throw new BootstrapError('INVALID_REQUEST', `usage: cloudiq-bootstrap ${command} ${usage}`.trimEnd(), {
      command,
    });
  }
}

/** The request a command line stands for (SPEC 2.5's arguments, read by the command's row). */
export function toRequest(
  command: string,
  positionals: string[],
  options: CliOptions,
  table: CommandTable = COMMAND_TABLE,
): CommandRequest {
  const row = rowOf(table, command);
  arity(command, positionals, row.cli.arity, row.cli.usage);
  const args = row.cli.parse(positionals, present({ role: options.role, operationId: options.operationId }));
  return { command, ...args } as CommandRequest;
}
