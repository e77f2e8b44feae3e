/**
 * The console-triggered batch upgrade (SPEC 7.3): the event is `/fleet/upgrade`'s body; the
 * answer is the aggregated result, also POSTed to the callback. A selection past the threshold
 * goes to the batch state machine; a run that outlives this invocation goes on in the worker.
 */
import { fleetUpgradeBodySchema, parseWith } from '../lib/api/params.ts';
import { validateRateControl } from '../lib/fleet/index.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import type { WorkerJob } from '../lib/worker/job.ts';
import { runWorker } from '../lib/worker/run-job.ts';
import { invokeAsync, runtime, startJob } from './composition.ts';

/** Lambda entry point. Invalid input throws (INVALID_REQUEST, UNKNOWN_SERVER), as the console shows. */
export async function handler(
  event: unknown,
  context: { getRemainingTimeInMillis(): number; functionName: string },
) {
  const body = parseWith(fleetUpgradeBodySchema, event, 'batch upgrade');
  validateRateControl(body);
  const rt = await runtime();
  rt.fleet.select(body.select);
  const { operationId, ...rest } = body;
  const job: WorkerJob = { kind: 'fleet', operationId: operationId ?? newOperationId(), ...rest };
  const { via } = await startJob(rt, job, { inline: true });
  if (via === 'state-machine') return { operationId: job.operationId, status: 'running', via };
  const worker = rt.env['WORKER_FUNCTION_NAME'];
  const outcome = await runWorker(
    {
      fleet: rt.fleet,
      deliver: rt.deliver,
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
      handOver: (next) => invokeAsync(rt.clients.lambda, worker ?? context.functionName, next),
      log: (record) => rt.logger.info(record.event, { ...record }),
    },
    { job },
  );
  if (outcome.state === 'finished') return outcome.result;
  return { operationId: job.operationId, status: 'running', via: 'worker' };
}
