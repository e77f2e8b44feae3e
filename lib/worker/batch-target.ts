/**
 * The batch state machine's target step (infra/state-machine.ts): one target's upgrade, with its
 * health gate, under the batch's operation id. When the invocation's time runs low the step
 * answers `{ status: "running", continuation }` and the state machine calls again at once with
 * it, so no invocation outlives Lambda's limit; the final answer is the target's report with
 * its place in the selection. No callback here: the aggregate step sends the one callback.
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../config/names.ts';
import { errorBody } from '../errors.ts';
import type { TargetReport } from '../fleet/index.ts';
import type { Fleet } from '../orchestrate/fleet.ts';
import { continuationSchema, type FleetJob, fleetRunShape } from './job.ts';
import { runWorker, type WorkerLogRecord } from './run-job.ts';

/** The request as the starters put it in the execution's input (`/fleet/upgrade`'s body). */
export const batchRequestSchema = z.looseObject(fleetRunShape);

export const batchItemSchema = z.strictObject({ server: z.string(), index: z.number().int().min(0) });

export const batchTargetEventSchema = z.looseObject({
  mode: z.literal('target'),
  operationId: z.string().regex(OPERATION_ID_PATTERN),
  request: batchRequestSchema,
  healthGate: z.boolean(),
  phase: z.enum(['canary', 'fleet']),
  item: batchItemSchema,
  continuation: z.unknown().optional(),
});

export type BatchTargetEvent = z.infer<typeof batchTargetEventSchema>;

export type BatchTargetAnswer =
  | (TargetReport & { index: number })
  | { status: 'running'; continuation: unknown };

/** A failed report becomes the child execution's `Cause`, limited to 32 KB: keep it well under. */
const MAX_CAUSE_CHARS = 30_000;

function fit(report: TargetReport & { index: number }): TargetReport & { index: number } {
  if (report.status !== 'failed' || JSON.stringify(report).length <= MAX_CAUSE_CHARS) return report;
  const details: Record<string, unknown> = { truncated: true };
  for (const [key, value] of Object.entries(report.error.details)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[key] = value;
  }
  return { ...report, error: { ...report.error, message: report.error.message.slice(0, 4096), details } };
}

export interface BatchTargetDeps {
  fleet: Fleet;
  remainingTimeMs?: () => number;
  handOverReserveMs?: number;
  log?: (record: WorkerLogRecord) => void;
}

/** Runs (or goes on following) one target of a batch; never rejects for the target's own failure. */
export async function runBatchTarget(
  deps: BatchTargetDeps,
  event: BatchTargetEvent,
): Promise<BatchTargetAnswer> {
  const { item } = event;
  const job: FleetJob = {
    kind: 'fleet',
    operationId: event.operationId,
    select: item.server,
    product: event.request.product,
    version: event.request.version,
    healthGate: event.healthGate,
    maxConcurrency: 1,
    maxErrors: 0,
    canary: 0,
  };
  const continuation =
    event.continuation === undefined || event.continuation === null
      ? undefined
      : continuationSchema.parse(event.continuation);
  try {
    const outcome = await runWorker(
      {
        fleet: deps.fleet,
        callbacks: false,
        // Handing over is answering `running`: the state machine makes the next call.
        handOver: async () => {},
        ...(deps.remainingTimeMs === undefined ? {} : { remainingTimeMs: deps.remainingTimeMs }),
        ...(deps.handOverReserveMs === undefined ? {} : { handOverReserveMs: deps.handOverReserveMs }),
        ...(deps.log === undefined ? {} : { log: deps.log }),
      },
      continuation === undefined ? { job } : { job, continuation },
    );
    if (outcome.state === 'handedOver')
      return { status: 'running', continuation: outcome.event.continuation };
    const report = outcome.result.targets[0] ?? { server: item.server, status: 'skipped' };
    return fit({ ...report, index: item.index });
  } catch (error) {
    return fit({ server: item.server, status: 'failed', error: errorBody(error), index: item.index });
  }
}
