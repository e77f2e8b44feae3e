/**
 * The worker function. Its events:
 * - `{ job, continuation? }` — a long operation handed over by the API, batch-upgrade or an
 *   earlier invocation of itself (asynchronous Invoke): followed to its end, with a hand-over to
 *   a fresh invocation when this one's time runs low, and one callback at the real end;
 * - `{ mode: "plan" | "target" | "aggregate", … }` — the steps of the batch state machine
 *   (infra/state-machine.ts, infra/batch-plan.ts).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { type BatchPlan, planBatch } from '../infra/batch-plan.ts';
import { ENV } from '../infra/environment.ts';
import { parseWith } from '../lib/api/params.ts';
import { BootstrapError } from '../lib/errors.ts';
import { aggregateBatch, type BatchAggregateAnswer, batchRunSchema } from '../lib/worker/batch-aggregate.ts';
import {
  type BatchTargetAnswer,
  batchRequestSchema,
  batchTargetEventSchema,
  runBatchTarget,
} from '../lib/worker/batch-target.ts';
import { workerEventSchema } from '../lib/worker/job.ts';
import { runWorker } from '../lib/worker/run-job.ts';
import { createS3Storage } from '../lib/worker/s3-storage.ts';
import { invokeAsync, type Runtime, runtime } from './composition.ts';

interface LambdaContext {
  functionName: string;
  getRemainingTimeInMillis(): number;
}

const planEventSchema = z.looseObject({
  mode: z.literal('plan'),
  operationId: z.string(),
  request: batchRequestSchema,
  startedAt: z.string(),
});

async function plan(rt: Runtime, event: unknown): Promise<BatchPlan> {
  const input = parseWith(planEventSchema, event, 'plan step');
  const bucket = rt.env[ENV.batchRunsBucket];
  if (!bucket) throw new BootstrapError('CONFIG_ERROR', `${ENV.batchRunsBucket} is not set`);
  const targets = rt.fleet.select(input.request.select);
  const { operationId, request } = input;
  const planned = planBatch({
    operationId,
    request: request as Parameters<typeof planBatch>[0]['request'],
    targets,
    bucket,
  });
  await Promise.all(
    planned.objects.map((object) =>
      rt.clients.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: object.key,
          Body: object.body,
          ContentType: 'application/json',
        }),
      ),
    ),
  );
  return planned.plan;
}

/** Lambda entry point. */
export async function handler(
  event: unknown,
  context: LambdaContext,
): Promise<BatchPlan | BatchTargetAnswer | BatchAggregateAnswer | { operationId: string; state: string }> {
  const rt = await runtime();
  const remainingTimeMs = () => context.getRemainingTimeInMillis();
  const log = (record: { event: string }) => rt.logger.info(record.event, { ...record });
  const mode = (event as { mode?: unknown } | null)?.mode;
  if (mode === 'plan') return plan(rt, event);
  if (mode === 'target') {
    const input = parseWith(batchTargetEventSchema, event, 'target step');
    return runBatchTarget({ fleet: rt.fleet, remainingTimeMs, log }, input);
  }
  if (mode === 'aggregate') {
    const input = parseWith(z.looseObject({ run: batchRunSchema }), event, 'aggregate step');
    return aggregateBatch(
      { fleet: rt.fleet, storage: createS3Storage(rt.clients.s3), deliver: rt.deliver },
      input.run,
    );
  }
  // A malformed event throws: after Lambda's retries it lands in the failures queue, whole.
  const input = parseWith(workerEventSchema, event, 'worker event');
  const outcome = await runWorker(
    {
      fleet: rt.fleet,
      deliver: rt.deliver,
      remainingTimeMs,
      handOver: (next) => invokeAsync(rt.clients.lambda, context.functionName, next),
      log,
    },
    input,
  );
  return { operationId: input.job.operationId, state: outcome.state };
}
