/**
 * The fleet heartbeat on Step Functions (SPEC 7.2 v2). The schedule starts one execution per
 * period, named after the period (`hb-20261127T121500Z`), so a schedule delivered twice starts
 * nothing new. Its plan splits the inventory into shards (heartbeat-shards.ts) written to the
 * runs bucket; a Map runs the shards side by side, each an in-process fleet run within its time
 * budget that logs its hosts; the report step adds the shards up, keeps the whole report,
 * publishes the period's counts once (`publishHeartbeatCounts`) and POSTs the report once. Each
 * shard starts reading at a point that moves with the period's number (`shardStart`), so what a
 * slow period leaves unread is not the same hosts the next period; shards and report still list
 * their hosts in inventory order.
 */
import { setTimeout as delay } from 'node:timers/promises';
import * as z from 'zod';
import { present } from '../../optional.ts';
import type { CallbackOutcome } from '../aggregate.ts';
import { type Cut, type FitResultOptions, fitList } from '../fit-result.ts';
import {
  addHeartbeatSummaries,
  type HeartbeatLogger,
  type HeartbeatReport,
  type HeartbeatSummary,
  type HostHeartbeat,
  type PeriodMetrics,
  publishPeriodMetrics,
  type ReadHeartbeat,
  runFleetHeartbeat,
} from '../heartbeat.ts';
import {
  LAMBDA_MAX_MS,
  planHeartbeatShards,
  rotated,
  type ShardInput,
  shardStart,
} from '../heartbeat-shards.ts';
import { type BlobStore, readJson, type StepDeps } from './deps.ts';
import { runEndedSchema } from './events.ts';
import { releaseSlots, runEnded } from './reserve.ts';

/** The settings of a deployment: measured or configured host cost, period, timeouts, the reserve. */
export type HeartbeatSettings = Omit<ShardInput, 'total'>;

export interface HeartbeatDeps extends Pick<StepDeps, 'fleet' | 'blobs' | 'ledger' | 'now' | 'pool'> {
  settings: HeartbeatSettings;
  logger?: HeartbeatLogger;
  /** Powertools' Metrics: the report step publishes each run's counts through it, once. */
  metrics?: PeriodMetrics;
  readHost?: ReadHeartbeat;
  /** POSTs the report (SPEC 5's delivery); none: not delivered. */
  deliverReport?: (
    url: string,
    report: HeartbeatReport,
  ) => Promise<{ delivered: boolean; attempts: number; lastError?: string }>;
  /** `HEARTBEAT_CALLBACK_URL`. */
  callbackUrl?: string | undefined;
  /** The clock the shard's budget is measured on (milliseconds). */
  clock?: () => number;
  /** Waits `ms` (a host's timeout); default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** The number of the period that `time` falls in (periods counted from the epoch). */
export function heartbeatPeriod(time: Date, periodMs: number): number {
  return Math.floor(time.getTime() / periodMs);
}

/** The execution's name and the report's operation id for the period that `time` falls in. */
export function heartbeatRunId(time: Date, periodMs: number): string {
  const start = new Date(heartbeatPeriod(time, periodMs) * periodMs);
  return `hb-${start
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

export const heartbeatExecutionSchema = z.looseObject({
  operationId: z.string().min(1),
  select: z.string().min(1).optional(),
  startedAt: z.string(),
  /**
   * Started by hand (`{ "select": … }` to the function), not by the schedule: its counts are
   * published apart from the fleet's (`publishHeartbeatCounts`). None: the schedule's run.
   */
  manual: z.literal(true).optional(),
});
export type HeartbeatExecution = z.infer<typeof heartbeatExecutionSchema>;

export const shardItemSchema = z.strictObject({
  operationId: z.string(),
  shard: z.number().int().min(0),
  /** The shard's hosts, in inventory order. */
  servers: z.array(z.string()),
  /** Where in `servers` the reading starts, wrapping round (none: at the first). */
  startAt: z.number().int().min(0).optional(),
  hostConcurrency: z.number().int().min(1),
  hostTimeoutMs: z.number().int().min(1),
  budgetMs: z.number().int().min(1),
  /**
   * When the shard's reading must end, in milliseconds since the epoch: the plan's time plus the
   * budget, the same for every attempt of the shard, so a shard run again (its invocation failed)
   * or started late reads only until then, never past the period. None (an item planned before
   * this field existed): `budgetMs` from the shard's own start.
   */
  deadlineAt: z.number().int().min(0).optional(),
});
export type ShardItem = z.infer<typeof shardItemSchema>;

const keysOf = (operationId: string) => ({
  shards: `runs/heartbeats/${operationId}/shards.json`,
  shard: (index: number) => `runs/heartbeats/${operationId}/shard-${index}.json`,
  report: `runs/heartbeats/${operationId}/report.json`,
});

/** Between two asks for the shards' units when none were granted (a run by hand holds them). */
export const SHARD_SLOT_WAIT_SECONDS = 10;

/**
 * The plan: shards in the runs bucket for the Map's ItemReader. Each shard's reading starts where
 * the period's number puts it: the period of the execution's `startedAt` — the schedule's time,
 * the one its name is made from (`heartbeatRunId`) — so running the period's execution again
 * plans the same.
 *
 * Its shards' units of the heartbeat function's concurrency first (SPEC 7.3 v2: runs side by
 * side — a run started by hand beside the schedule's — never ask for more than the function's
 * reserved concurrency): the Map runs `granted` shards at once. None granted, nothing is written:
 * the execution waits and plans again, so that the shards' deadline counts from when they may
 * start. Their lease ends when no shard of the run can still be running: its deadline plus the
 * longest a Lambda invocation runs. The report step gives them back; an execution that ends
 * without it, through the HeartbeatEnded rule (`heartbeat-ended`).
 */
export async function planHeartbeat(deps: HeartbeatDeps, input: HeartbeatExecution) {
  // An inventory that lists no host at the moment (its sources list nothing) is a period with
  // nothing to read: reported, published and called back as such, not a failed execution.
  const empty = (input.select ?? 'all') === 'all' && deps.fleet.servers().length === 0;
  const servers = empty ? [] : deps.fleet.select(input.select ?? 'all');
  const plan = planHeartbeatShards({ ...deps.settings, total: servers.length });
  const period = heartbeatPeriod(new Date(input.startedAt), deps.settings.periodMs);
  // Counted from the plan, not from each shard's start: a first attempt, started moments after
  // the plan, has its whole budget; a retried or late one only what is left of it.
  const deadlineAt = Math.floor((deps.clock ?? Date.now)()) + plan.budgetMs;
  const keys = keysOf(input.operationId);
  const planned = { ...plan, total: servers.length, bucket: deps.blobs.bucket, key: keys.shards };
  // No shard, no unit: a period with no host to read never waits for one.
  const granted =
    deps.pool && plan.shards > 0
      ? await deps.pool.reserve(
          input.operationId,
          plan.mapConcurrency,
          Math.max(1, deps.settings.maxShards),
          deadlineAt + LAMBDA_MAX_MS,
        )
      : plan.mapConcurrency;
  if (granted === 0) return { ...planned, granted, wait: SHARD_SLOT_WAIT_SECONDS };
  const items: ShardItem[] = [];
  for (let shard = 0; shard < plan.shards; shard += 1) {
    const slice = servers.slice(shard * plan.shardSize, (shard + 1) * plan.shardSize);
    items.push({
      operationId: input.operationId,
      shard,
      servers: slice,
      startAt: shardStart(period, slice.length),
      hostConcurrency: plan.hostConcurrency,
      hostTimeoutMs: deps.settings.hostTimeoutMs,
      budgetMs: plan.budgetMs,
      deadlineAt,
    });
  }
  await deps.blobs.put(keys.shards, JSON.stringify(items));
  return { ...planned, granted, wait: 0 };
}

interface ShardRecord {
  shard: number;
  summary: HeartbeatSummary;
  hosts: HostHeartbeat[];
}

/**
 * The waits before a shard's own S3 calls (its kept record read, its record written) are tried
 * again, here, rather than by running the whole shard again (infra/state-machines.ts does that too
 * now, but a run again reads only until the shard's deadline): one call failing past the SDK's
 * retries — a connection reset, a 500, a SlowDown — would leave every host of the shard unread, or
 * read and then reported `skipped`, for the period. Seven seconds in all, within the margin the function's timeout keeps
 * after a shard's budget (infra/stack.ts, HEARTBEAT_SHARD_MARGIN_MS).
 */
export const SHARD_IO_RETRY_MS: readonly number[] = [1_000, 2_000, 4_000];

/** `work`, tried again after each of SHARD_IO_RETRY_MS; the last failure rejects. */
async function withShardRetries<T>(sleep: (ms: number) => Promise<void>, work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const wait = SHARD_IO_RETRY_MS[attempt];
      if (wait === undefined) throw error;
      await sleep(wait);
    }
  }
}

/**
 * One shard: its hosts read within its budget and before its `deadlineAt`, logged and counted;
 * kept for the report, which publishes the counts (`publishHeartbeatCounts`).
 * A kept record answers a repeat. One that cannot be read (S3 failed on every try) does not cost
 * the period its hosts: they are read (again, at worst), and the record written.
 */
export async function runHeartbeatShard(deps: HeartbeatDeps, item: ShardItem) {
  const key = keysOf(item.operationId).shard(item.shard);
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  let kept: ShardRecord | undefined;
  try {
    kept = await withShardRetries(sleep, () => readJson<ShardRecord>(deps.blobs, key));
  } catch (error) {
    deps.logger?.warn('heartbeat.shard', {
      operationId: item.operationId,
      shard: item.shard,
      message: `its kept record could not be read, its hosts are read: ${(error as Error)?.message ?? error}`,
    });
  }
  if (kept) return { shard: item.shard, summary: kept.summary };
  const clock = deps.clock ?? Date.now;
  // Within its budget and never past the plan's deadline: a shard run again after its invocation
  // failed, or started late, reads what time is left (none: its hosts are recorded skipped).
  const deadline = Math.min(clock() + item.budgetMs, item.deadlineAt ?? Number.POSITIVE_INFINITY);
  // No metrics here: a shard may run again after it read its hosts (its record not written, its
  // invocation crashed or timed out: the Retry in infra/state-machines.ts), and counts published
  // by each attempt would count its hosts twice in the period. The report step publishes the
  // period's counts once, from the shards' records. Each host read is still logged, by every
  // attempt that reads it: a log line is one reading at its own time, not a count, so a host read
  // again is rightly logged again.
  const report = await runFleetHeartbeat({
    fleet: deps.fleet,
    servers: rotated(item.servers, item.startAt ?? 0),
    operationId: item.operationId,
    concurrency: item.hostConcurrency,
    hostTimeoutMs: item.hostTimeoutMs,
    remainingTimeMs: () => deadline - clock(),
    reserveMs: 0,
    ...present({ logger: deps.logger, readHost: deps.readHost, sleep: deps.sleep }),
    now: () => new Date(clock()),
  });
  // Read from `startAt` on; kept (and reported) in inventory order.
  const byServer = new Map(report.hosts.map((host) => [host.server, host]));
  const hosts = item.servers.map(
    (server): HostHeartbeat => byServer.get(server) ?? { server, status: 'skipped' },
  );
  const record: ShardRecord = { shard: item.shard, summary: report.summary, hosts };
  const body = JSON.stringify(record);
  await withShardRetries(sleep, () => deps.blobs.put(key, body));
  return { shard: item.shard, summary: report.summary };
}

/** What the report step answers: the counts, whether they were published, the callback's outcome. */
export interface HeartbeatReported {
  operationId: string;
  summary: HeartbeatSummary;
  metrics?: MetricsOutcome;
  callback?: CallbackOutcome;
}

/** The report: every shard's hosts and counts, kept whole, published and POSTed once. Answers without the hosts. */
export async function reportHeartbeat(
  deps: HeartbeatDeps,
  input: HeartbeatExecution,
): Promise<HeartbeatReported> {
  // No shard of the run starts any more: its units of the pool are given back first — when the
  // Map failed (its shards stopped, their invocations running on), not before they may have ended.
  await releaseSlots(deps, input.operationId, input['shardsError'] === undefined ? undefined : {});
  const keys = keysOf(input.operationId);
  const items = (await readJson<ShardItem[]>(deps.blobs, keys.shards)) ?? [];
  const hosts: HostHeartbeat[] = [];
  const summaries: HeartbeatSummary[] = [];
  for (const item of items) {
    const shard = await readJson<ShardRecord>(deps.blobs, keys.shard(item.shard));
    if (shard) {
      hosts.push(...shard.hosts);
      summaries.push(shard.summary);
    } else {
      // A shard that never reported: its hosts were not read this period.
      hosts.push(...item.servers.map((server): HostHeartbeat => ({ server, status: 'skipped' })));
      summaries.push({
        ...addHeartbeatSummaries([]),
        total: item.servers.length,
        skipped: item.servers.length,
      });
    }
  }
  const now = deps.now ?? (() => new Date());
  const report: HeartbeatReport = {
    operationId: input.operationId,
    command: 'heartbeat',
    startedAt: input.startedAt,
    finishedAt: now().toISOString(),
    summary: addHeartbeatSummaries(summaries),
    hosts,
  };
  await deps.blobs.put(keys.report, JSON.stringify(report));
  // Before the callback: its POST may take a while (SPEC 5's retries), and neither its time nor
  // its failure should hold the counts back.
  const metrics = await publishHeartbeatCounts(deps, input, report.summary);
  const answer: HeartbeatReported = {
    operationId: report.operationId,
    summary: report.summary,
    ...present({ metrics }),
  };
  const url = deps.callbackUrl;
  if (url === undefined || url === '') return answer;
  const send = deps.deliverReport;
  const outcome = await deps.ledger.deliverOnce(report.operationId, async () =>
    send
      ? send(url, fitHeartbeat(report, { resultUrl: await reportUrl(deps.blobs, keys.report) }))
      : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' },
  );
  return { ...answer, callback: outcome };
}

/**
 * The delivery ledger's key of a heartbeat run's counts: its operation id and `#metrics` (`#` is
 * outside operation ids, so never the key of its callback, which is the bare id).
 */
export function heartbeatMetricsKey(operationId: string): string {
  return `${operationId}#metrics`;
}

/** The dimension (added to the service's) of the counts of a run started by hand. */
export const MANUAL_RUN_DIMENSION: Readonly<Record<string, string>> = { run: 'manual' };

/** Whether the metrics were written: by this call, or by an earlier run of the step. */
export interface MetricsOutcome {
  published: boolean;
  lastError?: string;
}

/**
 * A run's counts (SPEC 7.2), published once per run whatever step is run again: from the report
 * step, the one step that has every shard's hosts (a shard's own counts would be published again
 * by a shard run again), through the delivery ledger that makes callbacks exactly-once (the run
 * table, lib/cloud/dynamo-delivery-ledger.ts) under `heartbeatMetricsKey`.
 *
 * At most once, not at least once. The ledger claims the key (a conditional put) before the EMF
 * line is written and records it done after, so a report step run again after it published (it
 * crashed, timed out or failed later on, or the execution was redriven) finds the record and
 * writes nothing. The one window left is an invocation that dies between its claim and that
 * record: its claim holds for the ledger's lease (15 minutes), longer than the step's retries
 * take, and those publish nothing and say so (a warning, `published: false`). A doubled count is a
 * wrong figure nothing tells from a true one, and can raise the fleet-health alarm by itself;
 * while in that window the counts were most likely written (writing them is one synchronous line
 * to stdout; it is the record's update after it that a timeout or a DynamoDB fault interrupts).
 * Nor does the step fail then: running it again cannot settle the claim before its lease ends.
 * When the ledger cannot be reached at all, nothing was written: its error fails the step, which
 * Step Functions runs again.
 *
 * Stamped with the start of the period the run's `startedAt` falls in (`publishPeriodMetrics`).
 * The schedule's run of a period publishes the fleet's counts; a run started by hand (`manual`,
 * functions/heartbeat.ts) reads its hosts a second time in the period, so its counts are
 * published once too but under `MANUAL_RUN_DIMENSION`, apart from the metrics the fleet-health
 * alarm adds up, which then count every host once a period. A run of no host publishes nothing,
 * as when the shards published (no shard ran): no datapoint, no breach.
 */
export async function publishHeartbeatCounts(
  deps: Pick<HeartbeatDeps, 'metrics' | 'ledger' | 'settings' | 'logger'>,
  input: HeartbeatExecution,
  summary: HeartbeatSummary,
): Promise<MetricsOutcome | undefined> {
  const metrics = deps.metrics;
  if (!metrics || summary.total === 0) return undefined;
  const startedAt = new Date(input.startedAt);
  const periodMs = deps.settings.periodMs;
  const known = Number.isFinite(startedAt.getTime());
  const outcome = await deps.ledger.deliverOnce(
    heartbeatMetricsKey(input.operationId),
    async (): Promise<CallbackOutcome> => {
      publishPeriodMetrics(metrics, summary, {
        ...(known ? { periodStart: new Date(heartbeatPeriod(startedAt, periodMs) * periodMs) } : {}),
        ...(input.manual ? { dimensions: { ...MANUAL_RUN_DIMENSION } } : {}),
      });
      return { delivered: true, attempts: 1 };
    },
  );
  if (outcome.delivered) return { published: true };
  const lastError = outcome.lastError ?? 'not published';
  deps.logger?.warn('heartbeat.metrics', {
    operationId: input.operationId,
    reason: `the run's counts were not published by this attempt, which found an earlier one's claim on them: ${lastError}`,
  });
  return { published: false, lastError };
}

/**
 * Where a cut report's `resultUrl` points: the whole report kept above, through the runs bucket's
 * pre-signed URL as a fleet run's result is (aggregate-step.ts). No API route serves a heartbeat's
 * report (SPEC 7.1 has none, `GET /fleet/operations/{id}` reads fleet runs only), so a store that
 * signs nothing answers the object's own location, `s3://bucket/key`, rather than a route that
 * would answer 404.
 */
async function reportUrl(blobs: BlobStore, key: string): Promise<string> {
  return blobs.urlOf ? blobs.urlOf(key) : `s3://${blobs.bucket}/${key}`;
}

/** The report as it goes on the wire: whole, or cut down and pointing at the whole. */
export type FittedHeartbeat = HeartbeatReport & Cut;

/**
 * SPEC 5 v2's 1 MiB, cut as a fleet run's result is (fit-result.ts): every host that is not
 * healthy (shortened if need be), then as many healthy ones as fit, in the selection's order,
 * with `truncated: true` and `resultUrl`; the report itself while it fits.
 */
export function fitHeartbeat(report: HeartbeatReport, options: FitResultOptions): FittedHeartbeat {
  return fitList(report, 'hosts', (host: HostHeartbeat) => host.status === 'healthy', options);
}

export const heartbeatStepSchema = z.discriminatedUnion('step', [
  z.strictObject({ step: z.literal('heartbeat-plan'), run: heartbeatExecutionSchema }),
  z.strictObject({ step: z.literal('heartbeat-shard'), item: shardItemSchema }),
  z.strictObject({ step: z.literal('heartbeat-report'), run: heartbeatExecutionSchema }),
  z.strictObject({ step: z.literal('heartbeat-ended'), ...runEndedSchema.shape }),
]);
export type HeartbeatStep = z.infer<typeof heartbeatStepSchema>;

/** Runs one step of the heartbeat state machine (functions/heartbeat.ts and the tests' simulation). */
export function runHeartbeatStep(deps: HeartbeatDeps, input: HeartbeatStep) {
  if (input.step === 'heartbeat-plan') return planHeartbeat(deps, input.run);
  if (input.step === 'heartbeat-shard') return runHeartbeatShard(deps, input.item);
  if (input.step === 'heartbeat-ended') return runEnded(deps, input);
  return reportHeartbeat(deps, input.run);
}
