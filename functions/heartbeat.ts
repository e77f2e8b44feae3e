/**
 * The scheduled fleet heartbeat (SPEC 7.2), run by an EventBridge schedule: every inventory host,
 * one log line each, CloudWatch metrics in EMF, the report to `HEARTBEAT_CALLBACK_URL`. A manual
 * invocation may narrow it with `{ "select": "group:edge" }`.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { ENV, METRICS_NAMESPACE, SERVICE_NAME } from '../infra/environment.ts';
import { parseWith } from '../lib/api/params.ts';
import { runFleetHeartbeat } from '../lib/fleet/heartbeat.ts';
import { runtime } from './composition.ts';

/** EventBridge's scheduled event carries `source`, `detail-type`, …: only `select` is read. */
const eventSchema = z.looseObject({ select: z.string().min(1).optional() });

const metrics = new Metrics({
  namespace: process.env[ENV.powertoolsMetricsNamespace] ?? METRICS_NAMESPACE,
  serviceName: process.env[ENV.powertoolsServiceName] ?? SERVICE_NAME,
});

function positive(raw: string | undefined, fallback: number): number {
  const value = Number(raw);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

/** Lambda entry point; answers the run's summary (the whole report goes to the callback). */
export async function handler(event: unknown, context: { getRemainingTimeInMillis(): number }) {
  const input = parseWith(eventSchema, event ?? {}, 'heartbeat event');
  const rt = await runtime();
  const callbackUrl = rt.env[ENV.heartbeatCallbackUrl];
  const report = await runFleetHeartbeat({
    fleet: rt.fleet,
    ...(input.select === undefined ? {} : { select: input.select }),
    concurrency: positive(rt.env['HEARTBEAT_CONCURRENCY'], 10),
    hostTimeoutMs: positive(rt.env['HEARTBEAT_HOST_TIMEOUT_MS'], 30_000),
    remainingTimeMs: () => context.getRemainingTimeInMillis(),
    logger: rt.logger,
    metrics,
    ...(callbackUrl ? { callbackUrl } : {}),
    deliver: rt.deliverJson,
  });
  return {
    operationId: report.operationId,
    summary: report.summary,
    ...(report.callback === undefined ? {} : { callback: report.callback }),
  };
}
