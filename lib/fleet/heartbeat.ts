/**
 * The fleet heartbeat (SPEC 7.2) as a fleet run: `heartbeat.get` + `heartbeat.appstack` (one
 * read per host) through `runFleet`, bounded concurrency, a timeout per host, no `maxErrors`
 * stop; one structured log line per host; CloudWatch counts (healthy, degraded, down,
 * unreachable — and failed, skipped); the report, POSTed to a callback URL when one is set.
 *
 * On Step Functions one call is one shard of the inventory (steps/heartbeat.ts): its hosts logged
 * and kept for the report step, which alone publishes the period's counts, once
 * (`publishPeriodMetrics`); locally one call reads the whole selection and publishes its counts.
 * The logger and the metrics are injected, shaped like Powertools for AWS Lambda's `Logger` and
 * `Metrics`, so nothing here knows Lambda. When the time left runs low, hosts not yet started
 * are reported `skipped` rather than cut off mid-way.
 */
import { BootstrapError, type ErrorBody } from '../errors.ts';
import { newOperationId } from '../operations/ids.ts';
import { type AppstackAnswer, type HeartbeatAnswer, runHeartbeat } from '../operations/index.ts';
import { present } from '../optional.ts';
import { withDeadline } from '../time/deadline.ts';
import type { CallbackOutcome, TargetReport } from './aggregate.ts';
import type { Fleet } from './fleet.ts';
import { runFleet } from './run-fleet.ts';

export type HostHealth = 'healthy' | 'degraded' | 'down' | 'unreachable' | 'failed' | 'skipped';

export interface HostHeartbeat {
  server: string;
  status: HostHealth;
  heartbeat?: HeartbeatAnswer;
  appstack?: AppstackAnswer;
  error?: ErrorBody;
  durationMs?: number;
}

export type HeartbeatSummary = { total: number } & Record<HostHealth, number>;

export interface HeartbeatReport {
  operationId: string;
  command: 'heartbeat';
  startedAt: string;
  finishedAt: string;
  summary: HeartbeatSummary;
  hosts: HostHeartbeat[];
  callback?: CallbackOutcome;
}

/** The part of Powertools' Logger used here. */
export interface HeartbeatLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

/** The part of Powertools' Metrics used here. */
export interface HeartbeatMetrics {
  addMetric(name: string, unit: 'Count', value: number): unknown;
  publishStoredMetrics(): unknown;
}

/** What a period's counts need of Powertools' Metrics besides: their time, and a dimension. */
export interface PeriodMetrics extends HeartbeatMetrics {
  setTimestamp(timestamp: number | Date): unknown;
  addDimension(name: string, value: string): unknown;
}

/** CloudWatch metric names, one per host status. */
export const HEARTBEAT_METRICS: Record<HostHealth, string> = {
  healthy: 'HealthyHosts',
  degraded: 'DegradedHosts',
  down: 'DownHosts',
  unreachable: 'UnreachableHosts',
  failed: 'FailedHosts',
  skipped: 'SkippedHosts',
};

/** One host's read: `runHeartbeat` on the fleet's host, or a double where the engine is under test. */
export type ReadHeartbeat = (
  server: string,
  options: { signal: AbortSignal; timeoutMs: number },
) => Promise<{ heartbeat: HeartbeatAnswer; appstack: AppstackAnswer }>;

export interface FleetHeartbeatOptions {
  fleet: Fleet;
  /** SPEC 3.1 selector; default `all`. */
  select?: string;
  /** The hosts to read, instead of `select` (a shard of the inventory). */
  servers?: readonly string[];
  /** Hosts read at once; default 10. */
  concurrency?: number;
  /** One host's read and checks; past it the host is `unreachable` (TRANSPORT_TIMEOUT). Default 30 000. */
  hostTimeoutMs?: number;
  /** Milliseconds left; a host starts only while a whole timeout (and `reserveMs`) fits. */
  remainingTimeMs?: () => number;
  /** Kept back for the metrics and the callback; default 5 000. */
  reserveMs?: number;
  logger?: HeartbeatLogger;
  metrics?: HeartbeatMetrics;
  /** `HEARTBEAT_CALLBACK_URL`. */
  callbackUrl?: string;
  deliver?: (url: string, report: HeartbeatReport) => Promise<CallbackOutcome>;
  readHost?: ReadHeartbeat;
  /** Waits `ms` (a host's timeout); default a real timer. A simulation passes its virtual clock's. */
  sleep?: (ms: number) => Promise<void>;
  operationId?: string;
  now?: () => Date;
}

function readWith(fleet: Fleet): ReadHeartbeat {
  return (server, options) => runHeartbeat(fleet.target(server), options);
}

/** A host's read within its timeout: the signal stops the transport, the race answers regardless. */
async function readWithin(
  read: ReadHeartbeat,
  server: string,
  timeoutMs: number,
  signal: AbortSignal,
  sleep: ((ms: number) => Promise<void>) | undefined,
) {
  return withDeadline(
    {
      ms: timeoutMs,
      signal,
      timeoutError: () =>
        new BootstrapError('TRANSPORT_TIMEOUT', `${server}: no heartbeat within ${timeoutMs} ms`, {
          server,
          timeoutMs,
        }),
      sleep,
    },
    (signal) => read(server, { signal, timeoutMs }),
  );
}

/** A fleet run's target report as the heartbeat shows it. */
function hostOf(report: TargetReport, durationMs: number | undefined): HostHeartbeat {
  const timing = present({ durationMs });
  if (report.status === 'skipped') return { server: report.server, status: 'skipped' };
  if (report.status === 'succeeded') {
    const { heartbeat, appstack } = report.result as { heartbeat: HeartbeatAnswer; appstack: AppstackAnswer };
    return { server: report.server, status: appstack.status, heartbeat, appstack, ...timing };
  }
  return { server: report.server, status: report.status, error: report.error, ...timing };
}

export function logHeartbeat(logger: HeartbeatLogger | undefined, host: HostHeartbeat): void {
  if (!logger) return;
  const unhealthy = Object.entries(host.appstack?.products ?? {})
    .filter(([, product]) => product.status === 'unhealthy')
    .map(([name]) => name);
  const attributes = {
    server: host.server,
    status: host.status,
    ...(host.heartbeat
      ? {
          mode: host.heartbeat.mode,
          role: host.heartbeat.role,
          locked: host.heartbeat.lock !== null,
          lastOperation: host.heartbeat.lastOperation,
          load: host.heartbeat.load,
        }
      : {}),
    ...(host.appstack ? { unhealthyProducts: unhealthy } : {}),
    ...(host.error ? { error: { code: host.error.code, message: host.error.message } } : {}),
    ...present({ durationMs: host.durationMs }),
  };
  if (host.status === 'healthy') logger.info('heartbeat', attributes);
  else logger.warn('heartbeat', attributes);
}

export function emptyHeartbeatSummary(): HeartbeatSummary {
  return { total: 0, healthy: 0, degraded: 0, down: 0, unreachable: 0, failed: 0, skipped: 0 };
}

/** Adds shard summaries (or counts hosts) into one. */
export function addHeartbeatSummaries(summaries: readonly HeartbeatSummary[]): HeartbeatSummary {
  const sum = emptyHeartbeatSummary();
  for (const part of summaries) {
    for (const key of Object.keys(sum) as (keyof HeartbeatSummary)[]) sum[key] += part[key];
  }
  return sum;
}

/** Publishes one count per status (EMF through Powertools in Lambda). */
export function publishHeartbeatMetrics(metrics: HeartbeatMetrics | undefined, summary: HeartbeatSummary) {
  if (!metrics) return;
  for (const status of Object.keys(HEARTBEAT_METRICS) as HostHealth[]) {
    metrics.addMetric(HEARTBEAT_METRICS[status], 'Count', summary[status]);
  }
  metrics.publishStoredMetrics();
}

/**
 * Publishes `summary` as the counts of the period that starts at `periodStart`: one EMF document
 * whose `_aws.Timestamp` is the period's start rather than the time it is written, so the counts
 * land in their own period's datapoint however late in it (or, after retries, past it) they are
 * published; the fleet-health alarm adds up one period (infra/stack.ts). `dimensions` are added
 * to the service's. Powertools clears the timestamp and the dimensions once it has published, so
 * nothing of them reaches the next document of a warm function.
 */
export function publishPeriodMetrics(
  metrics: PeriodMetrics,
  summary: HeartbeatSummary,
  options: { periodStart?: Date; dimensions?: Record<string, string> },
): void {
  if (options.periodStart !== undefined) metrics.setTimestamp(options.periodStart);
  for (const [name, value] of Object.entries(options.dimensions ?? {})) metrics.addDimension(name, value);
  publishHeartbeatMetrics(metrics, summary);
}

/** Reads every selected host, logs and counts them, and delivers the report; never rejects for a host. */
export async function runFleetHeartbeat(options: FleetHeartbeatOptions): Promise<HeartbeatReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const servers = options.servers ?? options.fleet.select(options.select ?? 'all');
  const hostTimeoutMs = options.hostTimeoutMs ?? 30_000;
  const read = options.readHost ?? readWith(options.fleet);
  const clock = () => now().getTime();
  const started = new Map<string, number>();
  const durations = new Map<string, number>();
  const hosts: HostHeartbeat[] = [];
  const result = await runFleet({
    operationId: options.operationId ?? newOperationId(startedAt.getTime()),
    command: 'heartbeat.get',
    targets: servers,
    maxConcurrency: Math.max(1, options.concurrency ?? 10),
    // A heartbeat reads every host: failures never stop it.
    maxErrors: '100%',
    canary: 0,
    healthGate: false,
    ...(options.remainingTimeMs === undefined
      ? {}
      : {
          remainingTimeMs: options.remainingTimeMs,
          reserveMs: hostTimeoutMs + (options.reserveMs ?? 5_000),
        }),
    runTarget: async (server, signal) => {
      started.set(server, clock());
      try {
        return {
          status: 'succeeded',
          result: await readWithin(read, server, hostTimeoutMs, signal, options.sleep),
        };
      } finally {
        durations.set(server, clock() - (started.get(server) ?? clock()));
      }
    },
    onProgress: (event) => {
      if (event.type !== 'finished' && event.type !== 'skipped') return;
      const report: TargetReport =
        event.type === 'finished' ? event.report : { server: event.server, status: 'skipped' };
      const host = hostOf(report, durations.get(event.server));
      hosts.push(host);
      logHeartbeat(options.logger, host);
    },
    release: (server) => options.fleet.release?.(server),
    now,
  });
  const byServer = new Map(hosts.map((host) => [host.server, host]));
  const ordered = result.targets.map((target) => byServer.get(target.server) ?? hostOf(target, undefined));
  const summary = emptyHeartbeatSummary();
  summary.total = ordered.length;
  for (const host of ordered) summary[host.status] += 1;
  publishHeartbeatMetrics(options.metrics, summary);
  const report: HeartbeatReport = {
    operationId: result.operationId,
    command: 'heartbeat',
    startedAt: result.startedAt,
    finishedAt: now().toISOString(),
    summary,
    hosts: ordered,
  };
  if (options.callbackUrl === undefined || options.callbackUrl === '') return report;
  const outcome: CallbackOutcome = options.deliver
    ? await options.deliver(options.callbackUrl, report)
    : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' };
  const callback: CallbackOutcome = { delivered: outcome.delivered, attempts: outcome.attempts };
  if (outcome.lastError !== undefined) callback.lastError = outcome.lastError;
  return { ...report, callback };
}
