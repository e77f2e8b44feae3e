/**
 * The fleet heartbeat (SPEC 7.2 v2), an adapter over lib/fleet/steps/heartbeat.ts. Its events:
 * - EventBridge's scheduled event: starts the heartbeat state machine's execution of that
 *   period, named `hb-<period start>`, so a schedule delivered twice starts nothing new;
 * - `{ "select": "group:edge" }` by hand: an execution of its own over that selection, its
 *   counts published under their own dimension (`run: manual`), apart from the fleet's;
 * - `{ "step": "heartbeat-plan" | "heartbeat-shard" | "heartbeat-report", … }` from the state
 *   machine: the shard plan (and its shards' units of the function's concurrency), one shard's
 *   fleet run (a log line per host), the report, its metrics (published once per run, stamped
 *   with its period) and its callback; `heartbeat-ended` from the HeartbeatEnded rule gives back
 *   the units of an execution that ended without its report.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { parseWith } from '../lib/api/params.ts';
import {
  type Environment,
  METRICS_NAMESPACE,
  requireSetting,
  SERVICE_NAME,
} from '../lib/cloud/environment.ts';
import { HEARTBEAT_POOL } from '../lib/fleet/concurrency-pool.ts';
import {
  type HeartbeatDeps,
  type HeartbeatSettings,
  heartbeatRunId,
  heartbeatStepSchema,
  runHeartbeatStep,
} from '../lib/fleet/steps/heartbeat.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import { present } from '../lib/optional.ts';
import { type Runtime, runtime, startExecution, stepDeps } from './composition.ts';

/** EventBridge's scheduled event (its documented shape; `detail` is empty). */
const scheduledSchema = z.looseObject({
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
  time: z.iso.datetime(),
});
const manualSchema = z.strictObject({ select: z.string().min(1).optional() });

/**
 * The cold start's metrics, made with its runtime (the environment names the namespace) on first use.
 * Powertools writes each EMF document as one bare JSON line on stdout through a `Console` of its
 * own, not through the global `console` that the function's JSON log format (infra/function.ts)
 * wraps in Lambda's envelope, so CloudWatch Logs still finds the document and extracts its metrics.
 * `POWERTOOLS_DEV` would switch it to the global `console`: it is not set in the cloud.
 */
const metricsOf = new WeakMap<Runtime, Promise<Metrics>>();

function metricsFor(rt: Runtime): Promise<Metrics> {
  let metrics = metricsOf.get(rt);
  if (!metrics) {
    metrics = import('@aws-lambda-powertools/metrics').then(
      ({ Metrics }) =>
        new Metrics({
          namespace: rt.env.powertoolsMetricsNamespace ?? METRICS_NAMESPACE,
          serviceName: rt.env.powertoolsServiceName ?? SERVICE_NAME,
        }),
    );
    metricsOf.set(rt, metrics);
  }
  return metrics;
}

/** The shard plan's inputs from the environment; defaults: 1 s a host, 30 s timeout, 5 minutes, 1 % dead. */
export function heartbeatSettings(env: Environment): HeartbeatSettings {
  return {
    perHostMs: env.heartbeatHostCostMs ?? 1_000,
    hostTimeoutMs: env.heartbeatHostTimeoutMs ?? 30_000,
    deadShare: env.heartbeatDeadShare ?? 0.01,
    periodMs: env.heartbeatPeriodMs ?? 300_000,
    hostConcurrency: env.heartbeatConcurrency ?? 10,
    maxShards: env.heartbeatMaxShards ?? 40,
  };
}

async function deps(rt: Runtime): Promise<HeartbeatDeps> {
  const { fleet, blobs, ledger } = await stepDeps(rt);
  return {
    fleet,
    blobs,
    ledger,
    settings: heartbeatSettings(rt.env),
    logger: rt.logger,
    metrics: await metricsFor(rt),
    deliverReport: rt.deliverJson,
    callbackUrl: rt.env.heartbeatCallbackUrl,
    ...present({ pool: rt.pools?.[HEARTBEAT_POOL] }),
  };
}

async function start(rt: Runtime, operationId: string, input: Record<string, unknown>) {
  const machine = requireSetting(rt.env, 'heartbeatStateMachineArn');
  const started = await startExecution(rt, machine, operationId, { operationId, ...input });
  rt.logger.info('heartbeat.start', { operationId, started: started.started });
  return { operationId, ...started };
}

/** Lambda entry point. */
export async function handler(event: unknown) {
  if (typeof event === 'object' && event !== null && 'step' in event) {
    const input = parseWith(heartbeatStepSchema, event, 'heartbeat step');
    // The heartbeat's plan lists the inventory's sources afresh; a shard may use a recent listing
    // that knows its servers.
    const fresh = input.step === 'heartbeat-plan';
    const servers = input.step === 'heartbeat-shard' ? input.item.servers : [];
    return runHeartbeatStep(await deps(await runtime({ fresh, servers })), input);
  }
  const scheduled = scheduledSchema.safeParse(event);
  if (scheduled.success) {
    const rt = await runtime();
    const id = heartbeatRunId(new Date(scheduled.data.time), heartbeatSettings(rt.env).periodMs);
    return start(rt, id, { startedAt: scheduled.data.time });
  }
  const manual = parseWith(manualSchema, event ?? {}, 'heartbeat event');
  const rt = await runtime();
  // Marked `manual`: its counts are published apart from the schedule's (the fleet's per period).
  return start(rt, newOperationId(), { startedAt: new Date().toISOString(), ...manual, manual: true });
}
