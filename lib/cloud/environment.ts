/**
 * The environment of the Lambda functions and of `serve`: every variable's name, which infra/
 * sets from `ENV` (nothing spells a name twice), and its one parse with zod. A bad value is a
 * CONFIG_ERROR naming the variable and what it takes, found when the environment is read (a cold
 * start's first invocation), not when the value is first needed. Kept in lib, with no CDK in it,
 * so that infra imports the names from here and nothing imports infra.
 */
import * as z from 'zod';
import { BootstrapError } from '../errors.ts';

export const ENV = {
  /** `s3://bucket/key` of the inventory (SPEC 3.1). */
  inventorySource: 'INVENTORY_SOURCE',
  /** Secrets Manager ARN of the SSH private key (PEM or OpenSSH text as SecretString). */
  sshKeySecretArn: 'SSH_KEY_SECRET_ARN',
  /** Secrets Manager ARN of known_hosts text (OpenSSH format) for hosts without a pinned `host_key`. */
  knownHostsSecretArn: 'KNOWN_HOSTS_SECRET_ARN',
  /** SPEC 5: `true` lets callbacks reach private addresses (1/true/yes/on or 0/false/no/off). */
  callbackAllowPrivate: 'CALLBACK_ALLOW_PRIVATE',
  /** SPEC 5's signing secret itself (`serve`, the CLI); the functions take it from the secret below. */
  callbackSecret: 'CALLBACK_SECRET',
  /** Secrets Manager ARN whose SecretString is SPEC 5's `CALLBACK_SECRET`. */
  callbackSecretArn: 'CALLBACK_SECRET_ARN',
  /** ARN of the fleet-run state machine (fleet upgrades), started by api and batch-upgrade. */
  fleetStateMachineArn: 'FLEET_STATE_MACHINE_ARN',
  /** ARN of the operation state machine (one server's long operation followed to its end). */
  operationStateMachineArn: 'OPERATION_STATE_MACHINE_ARN',
  /** ARN of the heartbeat state machine, started by the schedule through the heartbeat function. */
  heartbeatStateMachineArn: 'HEARTBEAT_STATE_MACHINE_ARN',
  /** ARN of the state machine that POSTs a quick change's callback (`PUT …/mode`…), started by api. */
  changeCallbackStateMachineArn: 'CHANGE_CALLBACK_STATE_MACHINE_ARN',
  /** Bucket of the runs' item lists, reports and results (`runs/<operationId>/…`). */
  runsBucket: 'RUNS_BUCKET',
  /** DynamoDB table of run records and delivery records. */
  runTableName: 'RUN_TABLE_NAME',
  /** The most Map children at once: below the reserved concurrency of the function they call. */
  mapConcurrencyCap: 'MAP_CONCURRENCY_CAP',
  /** SPEC 7.2: where the scheduled heartbeat POSTs its aggregated report. */
  heartbeatCallbackUrl: 'HEARTBEAT_CALLBACK_URL',
  /** The heartbeat's shard plan: one host's read (ms), a host's timeout (ms), hosts at once per shard, the period (ms), shards at once. */
  heartbeatHostCostMs: 'HEARTBEAT_HOST_COST_MS',
  heartbeatHostTimeoutMs: 'HEARTBEAT_HOST_TIMEOUT_MS',
  heartbeatConcurrency: 'HEARTBEAT_CONCURRENCY',
  heartbeatPeriodMs: 'HEARTBEAT_PERIOD_MS',
  heartbeatMaxShards: 'HEARTBEAT_MAX_SHARDS',
  /** The share of hosts the shard plan expects to time out, as a percentage (`1%`). */
  heartbeatDeadShare: 'HEARTBEAT_DEAD_SHARE',
  /** EC2 tag of the fleet; SSM reaches only instances carrying it. */
  fleetTagKey: 'FLEET_TAG_KEY',
  fleetTagValue: 'FLEET_TAG_VALUE',
  /** Powertools for AWS Lambda: service name of logs and metrics, and the metrics namespace. */
  powertoolsServiceName: 'POWERTOOLS_SERVICE_NAME',
  powertoolsMetricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Set by Lambda: the function's code directory, where a `file:` inventory source is resolved. */
  lambdaTaskRoot: 'LAMBDA_TASK_ROOT',
} as const;

export type EnvKey = keyof typeof ENV;
export type RawEnv = Readonly<Record<string, string | undefined>>;

export const SERVICE_NAME = 'cloudiq-bootstrap';
export const METRICS_NAMESPACE = 'CloudiqBootstrap';

/** Every run's objects in the runs bucket are under this prefix (and expire with it). */
export const RUNS_PREFIX = 'runs/';

/** What a bad value is told it should be, by the kind of the variable. */
const EXPECTED = {
  text: 'text',
  secret: 'text',
  positive: 'a positive number',
  count: 'a whole number from 1',
  url: 'an http:// or https:// URL',
  flag: '1, true, yes or on, or 0, false, no or off',
  percentage: 'a percentage from 0% to 100% (e.g. 1%)',
} as const;
type Kind = keyof typeof EXPECTED;

/** Unset and blank are the same: no value. */
const blank = (raw: string | undefined) => raw === undefined || raw.trim() === '';

function kindSchema(kind: Kind) {
  const value = z.string().transform((raw) => raw.trim());
  switch (kind) {
    case 'text':
      return value;
    case 'secret':
      // Taken as given: a secret's spaces may be its own.
      return z.string();
    case 'positive':
      return value.transform(Number).pipe(z.number().positive().finite());
    case 'count':
      return value.transform(Number).pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER));
    case 'url':
      return value.pipe(z.url({ protocol: /^https?$/ }));
    case 'flag':
      return value.pipe(
        z
          .string()
          .regex(/^(1|true|yes|on|0|false|no|off)$/i)
          .transform((word) => /^(1|true|yes|on)$/i.test(word)),
      );
    case 'percentage':
      return value.pipe(
        z
          .string()
          .regex(/^\d+(\.\d+)?%$/)
          .transform((text) => Number(text.slice(0, -1)) / 100)
          .pipe(z.number().max(1)),
      );
  }
}

const KINDS = {
  inventorySource: 'text',
  sshKeySecretArn: 'text',
  knownHostsSecretArn: 'text',
  callbackAllowPrivate: 'flag',
  callbackSecret: 'secret',
  callbackSecretArn: 'text',
  fleetStateMachineArn: 'text',
  operationStateMachineArn: 'text',
  heartbeatStateMachineArn: 'text',
  changeCallbackStateMachineArn: 'text',
  runsBucket: 'text',
  runTableName: 'text',
  mapConcurrencyCap: 'count',
  heartbeatCallbackUrl: 'url',
  heartbeatHostCostMs: 'positive',
  heartbeatHostTimeoutMs: 'positive',
  heartbeatConcurrency: 'count',
  heartbeatPeriodMs: 'positive',
  heartbeatMaxShards: 'count',
  heartbeatDeadShare: 'percentage',
  fleetTagKey: 'text',
  fleetTagValue: 'text',
  powertoolsServiceName: 'text',
  powertoolsMetricsNamespace: 'text',
  lambdaTaskRoot: 'text',
} as const satisfies Record<EnvKey, Kind>;

type ValueOf<K extends Kind> = K extends 'flag'
  ? boolean
  : K extends 'positive' | 'count' | 'percentage'
    ? number
    : string;

/** The environment, parsed: a variable unset or blank is `undefined`, except the flag (false). */
export type Environment = { readonly [K in EnvKey]?: ValueOf<(typeof KINDS)[K]> } & {
  readonly callbackAllowPrivate: boolean;
};

/** Parses `key` from `raw`, or throws the CONFIG_ERROR that names it; a blank value is none. */
function parseOne(key: EnvKey, raw: RawEnv): unknown {
  const name = ENV[key];
  const text = raw[name];
  if (blank(text)) return undefined;
  const kind: Kind = KINDS[key];
  const parsed = kindSchema(kind).safeParse(text);
  if (parsed.success) return parsed.data;
  // Only a secret could leak here, and a secret is taken as given (it never fails).
  throw new BootstrapError(
    'CONFIG_ERROR',
    `${name}: expected ${EXPECTED[kind]}, got ${JSON.stringify(text)}`,
    {
      variable: name,
      expected: EXPECTED[kind],
      value: text,
    },
  );
}

const ALL_KEYS = Object.keys(ENV) as EnvKey[];

/**
 * Reads the variables `keys` (default: all of `ENV`) from `raw` (default: this process's
 * environment) once; the first bad value throws CONFIG_ERROR naming its variable.
 */
export function readEnvironment(raw: RawEnv = process.env, keys: readonly EnvKey[] = ALL_KEYS): Environment {
  const parsed: Record<string, unknown> = { callbackAllowPrivate: false };
  for (const key of keys) {
    const value = parseOne(key, raw);
    if (value !== undefined) parsed[key] = value;
  }
  return parsed as Environment;
}

/** SPEC 5's two variables, as every process reads them (`serve`, the CLI, the functions). */
export function readCallbackEnvironment(raw: RawEnv = process.env): {
  secret: string | undefined;
  allowPrivate: boolean;
} {
  const environment = readEnvironment(raw, ['callbackSecret', 'callbackAllowPrivate']);
  return { secret: environment.callbackSecret, allowPrivate: environment.callbackAllowPrivate };
}

/** A variable a step cannot go on without: its value, or CONFIG_ERROR naming it. */
export function requireSetting<K extends EnvKey>(
  environment: Environment,
  key: K,
): NonNullable<Environment[K]> {
  const value = environment[key];
  if (value === undefined || value === null) {
    throw new BootstrapError('CONFIG_ERROR', `${ENV[key]} is not set`, { variable: ENV[key] });
  }
  return value as NonNullable<Environment[K]>;
}
