/**
 * The stack's settings, read from CDK context (`cdk.json`, or `-c key=value` on the command line)
 * and checked before anything is synthesized, so a typo fails `synth` instead of a deployment.
 * Every key is optional: with none, the stack creates its own inventory bucket and secrets.
 */

export type AuthorizerSettings = { kind: 'iam' } | { kind: 'jwt'; issuer: string; audience: string[] };

export interface NetworkSettings {
  subnetIds: string[];
  securityGroupIds: string[];
}

export interface StackSettings {
  /** EC2 tag that marks the fleet: `ssm:SendCommand` reaches only instances carrying it. */
  fleetTagKey: string;
  fleetTagValue: string;
  /**
   * EventBridge schedule of the fleet heartbeat (SPEC 7.2): one with a fixed period
   * (`schedulePeriodMs`), which names each period's execution and sizes the shards' budget.
   */
  heartbeatSchedule: string;
  /**
   * Regions where hosts and dynamic sources are (SPEC 3.1's `region`), where the functions may
   * send Run Command; absent: the stack's own region only.
   */
  fleetRegions?: string[];
  /** Subnets and security groups the functions run in, to reach hosts over SSH; none: no VPC. */
  network: NetworkSettings | undefined;
  authorizer: AuthorizerSettings;
  logRetentionDays: number;
  /** `s3://bucket/key`; none: the stack creates a bucket and reads `inventory.ini` from it. */
  inventorySource: { bucket: string; key: string } | undefined;
  /** Complete ARNs of existing secrets; none: the stack creates them with placeholder values. */
  sshKeySecretArn: string | undefined;
  callbackSecretArn: string | undefined;
  /** Complete ARN of a secret holding known_hosts text for SSH hosts the inventory does not pin. */
  knownHostsSecretArn: string | undefined;
  /** SPEC 5's CALLBACK_ALLOW_PRIVATE: callbacks may go to private addresses (a VPC-internal receiver). */
  callbackAllowPrivate: boolean;
  /** Where fleet heartbeat reports are POSTed (SPEC 7.2), passed as HEARTBEAT_CALLBACK_URL. */
  heartbeatCallbackUrl: string | undefined;
  /** SNS topic that every alarm notifies. */
  alarmTopicArn: string | undefined;
  /**
   * Hosts the heartbeat finds `down` or `unreachable` in one period that raise the fleet-health
   * alarm (default 1); 0: no such alarm.
   */
  heartbeatAlarmHosts: number;
  /** Reserved concurrency of the worker (the fleet runs' steps); the Map's concurrency stays below it. */
  workerReservedConcurrency: number;
  /** Reserved concurrency of the heartbeat function (its shards); the shards at once stay below it. */
  heartbeatReservedConcurrency: number;
  /** One host's heartbeat read in milliseconds, as measured (`npm run bench`) or expected: sizes the shards. */
  heartbeatHostCostMs: number;
}

/** Context keys, as `-c KEY=VALUE` takes them. */
export const CONTEXT_KEYS = [
  'fleetTagKey',
  'fleetTagValue',
  'heartbeatSchedule',
  'fleetRegions',
  'subnetIds',
  'securityGroupIds',
  'authorizer',
  'jwtIssuer',
  'jwtAudience',
  'logRetentionDays',
  'inventorySource',
  'sshKeySecretArn',
  'callbackSecretArn',
  'knownHostsSecretArn',
  'callbackAllowPrivate',
  'heartbeatCallbackUrl',
  'alarmTopicArn',
  'heartbeatAlarmHosts',
  'workerReservedConcurrency',
  'heartbeatReservedConcurrency',
  'heartbeatHostCostMs',
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

export const DEFAULT_FLEET_TAG_KEY = 'cloudiq:fleet';
export const DEFAULT_FLEET_TAG_VALUE = 'default';
export const DEFAULT_HEARTBEAT_SCHEDULE = 'rate(5 minutes)';
export const DEFAULT_LOG_RETENTION_DAYS = 30;
export const DEFAULT_WORKER_RESERVED_CONCURRENCY = 100;
export const DEFAULT_HEARTBEAT_RESERVED_CONCURRENCY = 20;
export const DEFAULT_HEARTBEAT_HOST_COST_MS = 1000;
export const DEFAULT_HEARTBEAT_ALARM_HOSTS = 1;

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const TAG_PART = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const SCHEDULE = /^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)|cron\([^()]+\))$/;
/** An AWS region, as the inventory's `region` takes it (lib/config/inventory.ts). */
const REGION = /^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$/;
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;
const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** Reads and checks the stack's settings; `read` is `node.tryGetContext`. Throws on the first bad value. */
export function readSettings(read: (key: ContextKey) => unknown): StackSettings {
  const text = (key: ContextKey): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' && typeof value !== 'number') fail(key, value, 'a string');
    return String(value).trim();
  };
  const list = (key: ContextKey): string[] => {
    const value = read(key);
    if (Array.isArray(value)) return value.map(String);
    const raw = text(key);
    return raw === undefined
      ? []
      : raw
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean);
  };
  const flag = (key: ContextKey): boolean => {
    const value = read(key);
    if (value === undefined || value === null || value === '' || value === false || value === 'false')
      return false;
    if (value === true || value === 'true') return true;
    return fail(key, value, 'true or false');
  };
  const matching = (key: ContextKey, pattern: RegExp, what: string): string | undefined => {
    const value = text(key);
    if (value !== undefined && !pattern.test(value)) fail(key, value, what);
    return value;
  };

  const fleetTagKey = matching('fleetTagKey', TAG_PART, 'an EC2 tag key') ?? DEFAULT_FLEET_TAG_KEY;
  if (fleetTagKey.toLowerCase().startsWith('aws:')) fail('fleetTagKey', fleetTagKey, 'a tag key not in aws:');
  const fleetTagValue = matching('fleetTagValue', TAG_PART, 'an EC2 tag value') ?? DEFAULT_FLEET_TAG_VALUE;
  const heartbeatSchedule =
    matching('heartbeatSchedule', SCHEDULE, 'rate(N minutes|hours|days) or cron(…)') ??
    DEFAULT_HEARTBEAT_SCHEDULE;
  if (schedulePeriodMs(heartbeatSchedule) === undefined)
    fail('heartbeatSchedule', heartbeatSchedule, CRON_FORMS);

  const fleetRegions = [...new Set(list('fleetRegions'))];
  for (const region of fleetRegions) {
    if (!REGION.test(region)) fail('fleetRegions', region, 'AWS regions (eu-west-1,us-east-1)');
  }

  const subnetIds = list('subnetIds');
  const securityGroupIds = list('securityGroupIds');
  for (const id of subnetIds) if (!SUBNET.test(id)) fail('subnetIds', id, 'subnet-… ids');
  for (const id of securityGroupIds) if (!SECURITY_GROUP.test(id)) fail('securityGroupIds', id, 'sg-… ids');
  if ((subnetIds.length === 0) !== (securityGroupIds.length === 0)) {
    fail('subnetIds', subnetIds.join(','), 'given together with securityGroupIds');
  }
  const network = subnetIds.length > 0 ? { subnetIds, securityGroupIds } : undefined;

  const kind = text('authorizer') ?? 'iam';
  let authorizer: AuthorizerSettings;
  if (kind === 'iam') authorizer = { kind: 'iam' };
  else if (kind === 'jwt') {
    const issuer = matching('jwtIssuer', /^https:\/\/\S+$/, 'an https:// issuer URL');
    const audience = list('jwtAudience');
    if (issuer === undefined) fail('jwtIssuer', undefined, 'set when authorizer is jwt');
    if (audience.length === 0) fail('jwtAudience', undefined, 'set when authorizer is jwt');
    authorizer = { kind: 'jwt', issuer, audience };
  } else fail('authorizer', kind, '"iam" or "jwt"');

  const retention = text('logRetentionDays');
  const logRetentionDays = retention === undefined ? DEFAULT_LOG_RETENTION_DAYS : Number(retention);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    fail('logRetentionDays', retention, `one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }

  const source = matching('inventorySource', S3_URL, 's3://bucket/key');
  const match = source === undefined ? null : S3_URL.exec(source);
  const inventorySource = match ? { bucket: match[1]!, key: match[2]! } : undefined;
  const secretArn = 'a complete secret ARN (ending in -XXXXXX)';

  const whole = (key: ContextKey, fallback: number, min: number, max: number): number => {
    const raw = text(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min || value > max)
      fail(key, raw, `a whole number from ${min} to ${max}`);
    return value;
  };

  return {
    fleetTagKey,
    fleetTagValue,
    heartbeatSchedule,
    ...(fleetRegions.length > 0 ? { fleetRegions } : {}),
    network,
    authorizer,
    logRetentionDays,
    inventorySource,
    sshKeySecretArn: matching('sshKeySecretArn', SECRET_ARN, secretArn),
    callbackSecretArn: matching('callbackSecretArn', SECRET_ARN, secretArn),
    knownHostsSecretArn: matching('knownHostsSecretArn', SECRET_ARN, secretArn),
    callbackAllowPrivate: flag('callbackAllowPrivate'),
    heartbeatCallbackUrl: matching('heartbeatCallbackUrl', /^https?:\/\/\S+$/, 'an http(s) URL'),
    alarmTopicArn: matching('alarmTopicArn', TOPIC_ARN, 'an SNS topic ARN'),
    // At least 11: ten are kept for the plan, canary, aggregate and poll steps of runs side by side.
    workerReservedConcurrency: whole(
      'workerReservedConcurrency',
      DEFAULT_WORKER_RESERVED_CONCURRENCY,
      11,
      10_000,
    ),
    heartbeatReservedConcurrency: whole(
      'heartbeatReservedConcurrency',
      DEFAULT_HEARTBEAT_RESERVED_CONCURRENCY,
      3,
      10_000,
    ),
    heartbeatHostCostMs: whole('heartbeatHostCostMs', DEFAULT_HEARTBEAT_HOST_COST_MS, 1, 600_000),
    heartbeatAlarmHosts: whole('heartbeatAlarmHosts', DEFAULT_HEARTBEAT_ALARM_HOSTS, 0, 1_000_000),
  };
}

const CRON_FORMS =
  'a schedule with one fixed period: rate(…), or cron(M/N * * * ? *) every N minutes (N dividing 60, M below N), ' +
  'cron(M * * * ? *) hourly, cron(M H/N * * ? *) every N hours (N dividing 24, H below N) or ' +
  'cron(M H * * ? *) daily (day-of-month and day-of-week * and ?, month and year *)';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The period of a heartbeat schedule in milliseconds, or undefined when it has none that the
 * execution names can follow. The heartbeat names each execution after the period its event falls
 * in, counted from the epoch (`hb-<period start>`, lib/fleet/steps/heartbeat.ts): a schedule must
 * fire exactly once in each such period, or two events share a name and the later starts nothing.
 * So a cron schedule is accepted only in the forms that fire at evenly spaced times aligned to the
 * hour or the day (UTC): `M/N` minutes of every hour with N dividing 60; one minute of every hour;
 * one minute of every N hours (`H/N`, N dividing 24) or of one hour of every day. Lists, ranges,
 * other steps and day, month or year restrictions have no one period and are refused.
 */
export function schedulePeriodMs(schedule: string): number | undefined {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(schedule);
  if (rate)
    return Number(rate[1]) * { minute: MINUTE, hour: HOUR, day: DAY }[rate[2] as 'minute' | 'hour' | 'day'];
  const cron = /^cron\(([^()]+)\)$/.exec(schedule);
  const fields = cron?.[1]?.trim().split(/\s+/);
  if (fields?.length !== 6) return undefined;
  const [minute, hour, dayOfMonth, month, dayOfWeek, year] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  // Every day of every month and year; EventBridge wants `?` in exactly one of the day fields.
  const everyDay = (dayOfMonth === '?' && dayOfWeek === '*') || (dayOfMonth === '*' && dayOfWeek === '?');
  if (!everyDay || month !== '*' || year !== '*') return undefined;
  const minuteStep = evenStep(minute, 60);
  if (minuteStep !== undefined) return hour === '*' ? minuteStep * MINUTE : undefined;
  if (!isWithin(minute, 59)) return undefined;
  if (hour === '*') return HOUR;
  const hourStep = evenStep(hour, 24);
  if (hourStep !== undefined) return hourStep * HOUR;
  return isWithin(hour, 23) ? DAY : undefined;
}

/** The step of `*` or `S/N` when it fires evenly around a cycle of `cycle` (N divides it, S below N). */
function evenStep(field: string, cycle: number): number | undefined {
  if (field === '*') return 1;
  const step = /^(\d{1,2})\/(\d{1,2})$/.exec(field);
  if (!step) return undefined;
  const [start, every] = [Number(step[1]), Number(step[2])];
  return every > 0 && cycle % every === 0 && start < every ? every : undefined;
}

/** A single value from 0 to `max`. */
function isWithin(field: string, max: number): boolean {
  return /^\d{1,2}$/.test(field) && Number(field) <= max;
}

function fail(key: ContextKey, value: unknown, what: string): never {
  throw new Error(`context ${key}: expected ${what}, got ${JSON.stringify(value)}`);
}
