/**
 * The scheduled fleet heartbeat (SPEC 7.2): `heartbeat.get` + `heartbeat.appstack` (one read per
 * host) on every inventory host with bounded concurrency and a timeout per host; one structured
 * log line per host; CloudWatch metrics (hosts healthy, degraded, down, unreachable — and failed,
 * skipped); the aggregated report, POSTed to a callback URL when one is set.
 *
 * The logger and the metrics are injected, shaped like Powertools for AWS Lambda's `Logger` and
 * `Metrics` (which write JSON lines and EMF to stdout in Lambda), so nothing here knows Lambda.
 * When the invocation's remaining time runs low, hosts not yet started are reported `skipped`
 * rather than cut off mid-way.
 */
import pLimit from 'p-limit';
import { BootstrapError, type ErrorBody, errorBody } from './errors.ts';
import type { CallbackOutcome } from './fleet/index.ts';
import { UNREACHABLE_CODES } from './fleet/index.ts';
import { newOperationId } from './operations/ids.ts';
import { type AppstackAnswer, type HeartbeatAnswer, runHeartbeat } from './operations/index.ts';
import type { Fleet } from './orchestrate/fleet.ts';

export type HostHealth = 'healthy' | 'degraded' | 'down' | 'unreachable' | 'failed' | 'skipped';

export interface HostHeartbeat {
  server: string;
  status: HostHealth;
  heartbeat?: HeartbeatAnswer;
  appstack?: AppstackAnswer;
  error?: ErrorBody;
  durationMs?: number;
}

export interface HeartbeatReport {
  operationId: string;
  command: 'heartbeat';
  startedAt: string;
  finishedAt: string;
  summary: { total: number } & Record<HostHealth, number>;
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

/** CloudWatch metric names, one per host status. */
export const HEARTBEAT_METRICS: Record<HostHealth, string> = {
  healthy: 'HealthyHosts',
  degraded: 'DegradedHosts',
  down: 'DownHosts',
  unreachable: 'UnreachableHosts',
  failed: 'FailedHosts',
  skipped: 'SkippedHosts',
};

export interface FleetHeartbeatOptions {
  fleet: Fleet;
  /** SPEC 3.1 selector; default `all`. */
  select?: string;
  /** Hosts read at once; default 10. */
  concurrency?: number;
  /** One host's read and checks; past it the host is `unreachable` (TRANSPORT_TIMEOUT). Default 30 000. */
  hostTimeoutMs?: number;
  /** Milliseconds the invocation has left; a host starts only while a whole timeout (and `reserveMs`) fits. */
  remainingTimeMs?: () => number;
  /** Kept back for the metrics and the callback; default 5 000. */
  reserveMs?: number;
  logger?: HeartbeatLogger;
  metrics?: HeartbeatMetrics;
  /** `HEARTBEAT_CALLBACK_URL`. */
  callbackUrl?: string;
  deliver?: (url: string, report: HeartbeatReport) => Promise<CallbackOutcome>;
  now?: () => Date;
}

async function readHost(fleet: Fleet, server: string, timeoutMs: number): Promise<HostHeartbeat> {
  const started = Date.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The signal stops the transport; the race answers even if a transport were slow to give up.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new BootstrapError(
        'TRANSPORT_TIMEOUT',
        `${server}: no heartbeat within ${timeoutMs} ms`,
        {
          server,
          timeoutMs,
        },
      );
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    const { heartbeat, appstack } = await Promise.race([
      runHeartbeat(fleet.target(server), { signal: controller.signal, timeoutMs }),
      timedOut,
    ]);
    return { server, status: appstack.status, heartbeat, appstack, durationMs: Date.now() - started };
  } catch (error) {
    const body = errorBody(error);
    const status: HostHealth = UNREACHABLE_CODES.has(body.code) ? 'unreachable' : 'failed';
    return { server, status, error: body, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function logLine(logger: HeartbeatLogger | undefined, host: HostHeartbeat): void {
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
    ...(host.durationMs === undefined ? {} : { durationMs: host.durationMs }),
  };
  if (host.status === 'healthy') logger.info('heartbeat', attributes);
  else logger.warn('heartbeat', attributes);
}

/** Reads every selected host, logs and counts them, and delivers the report; never rejects for a host. */
export async function runFleetHeartbeat(options: FleetHeartbeatOptions): Promise<HeartbeatReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const servers = options.fleet.select(options.select ?? 'all');
  const hostTimeoutMs = options.hostTimeoutMs ?? 30_000;
  const reserveMs = options.reserveMs ?? 5_000;
  const limit = pLimit(Math.max(1, options.concurrency ?? 10));
  const hosts = await Promise.all(
    servers.map((server) =>
      limit(async (): Promise<HostHeartbeat> => {
        const remaining = options.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
        const host: HostHeartbeat =
          remaining < hostTimeoutMs + reserveMs
            ? { server, status: 'skipped' }
            : await readHost(options.fleet, server, hostTimeoutMs);
        logLine(options.logger, host);
        return host;
      }),
    ),
  );

  const summary = {
    total: hosts.length,
    healthy: 0,
    degraded: 0,
    down: 0,
    unreachable: 0,
    failed: 0,
    skipped: 0,
  };
  for (const host of hosts) summary[host.status] += 1;
  if (options.metrics) {
    for (const status of Object.keys(HEARTBEAT_METRICS) as HostHealth[]) {
      options.metrics.addMetric(HEARTBEAT_METRICS[status], 'Count', summary[status]);
    }
    options.metrics.publishStoredMetrics();
  }
  const report: HeartbeatReport = {
    operationId: newOperationId(startedAt.getTime()),
    command: 'heartbeat',
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
    summary,
    hosts,
  };
  if (options.callbackUrl === undefined || options.callbackUrl === '') return report;
  const outcome: CallbackOutcome = options.deliver
    ? await options.deliver(options.callbackUrl, report)
    : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' };
  const callback: CallbackOutcome = { delivered: outcome.delivered, attempts: outcome.attempts };
  if (outcome.lastError !== undefined) callback.lastError = outcome.lastError;
  return { ...report, callback };
}
