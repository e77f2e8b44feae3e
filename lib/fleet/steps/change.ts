/**
 * A quick change's callback in the cloud (SPEC 5; 7.1's `PUT …/mode` and `PATCH …/config`). When
 * the host's bootstrap.ini names `[server] callback_url`, `serve` POSTs the change's aggregated
 * result there in the background after answering (lib/cli/serve.ts). The API function cannot:
 * Lambda freezes it once it has answered, and it cannot POST before answering either (SPEC 5's 5
 * attempts of up to 10 s with backoff do not fit API Gateway's 29 s). So, before it answers, the
 * API function hands the delivery to Step Functions:
 *
 * 1. it writes the result to the runs bucket (`changeResultKey`), then
 * 2. starts an execution of the ChangeCallback state machine named by the change's operation id,
 *    whose input is `changeCallbackSchema` — the id, the server, the URL — and whose one step is
 *    `deliverChange`, on the worker: it reads the result back and POSTs it through the delivery
 *    ledger, as the Operation machine's Deliver step does for a long operation.
 *
 * Why this and not the alternatives:
 * - An execution named by the operation id is the engine every other cloud callback already
 *   rides (SPEC 7.3 v2): a StartExecution retried by the SDK starts one execution, the step is
 *   retried on Lambda's throttling and its own failures (infra/state-machines.ts), and a step run
 *   again, or an event delivered twice, finds the delivery in the ledger (DynamoDB, keyed by
 *   `changeDeliveryKey`) and POSTs nothing. The API function already carries the SFN and S3
 *   clients, so its bundle takes no new SDK client.
 * - An asynchronous invocation of the worker would need the Lambda client in the API bundle (at
 *   its 1.5 MB limit) and a function invoking another, which the stack grants none (its retries
 *   and dead letters would then be ours to watch; an execution's are the state machines' alarms).
 * - The result goes to S3 rather than into the execution's input: an input is capped at 256 KiB
 *   where `product.set`'s answer (every key of the product, each up to 4 KiB) is not, and the
 *   product's values then stay out of the execution history that Step Functions keeps and shows
 *   for 90 days. The object expires with the runs bucket's `runs/` prefix.
 * - Its own state machine rather than a branch of the Operation machine: execution names are
 *   unique per machine, so a change's id can never take the name a long operation would need.
 *
 * What is POSTed is the result the API function made — SPEC 4's aggregated result of one target,
 * the very value `serve` POSTs for the same change — as it is (cut to 1 MiB with a `resultUrl`
 * to the object, as every cloud callback is, SPEC 5 v2). CALLBACK_SECRET is read by the worker
 * from Secrets Manager and is in no input, object or log; the SSRF guard is `deliverCallback`'s.
 * A host that names no `callback_url` costs nothing: nothing is written and nothing is started.
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../../config/names.ts';
import { BootstrapError } from '../../errors.ts';
import type { FleetResult } from '../aggregate.ts';
import { deliverOnce } from './deliver.ts';
import type { StepDeps } from './deps.ts';

/** The ChangeCallback execution's input, as the API function starts it. */
export const changeCallbackSchema = z.looseObject({
  operationId: z.string().regex(OPERATION_ID_PATTERN),
  server: z.string().min(1),
  callbackUrl: z.string().min(1),
});
export type ChangeCallback = z.infer<typeof changeCallbackSchema>;

/** Where a quick change's result waits for its delivery: with the runs' objects, under its id. */
export function changeResultKey(operationId: string): string {
  return `runs/${operationId}/change.json`;
}

/**
 * The delivery-ledger key of a quick change's callback: its id and server, apart from a long
 * operation's (`serverDeliveryKey`) and a fleet run's (the bare id), so that an id a caller reuses
 * for another run never finds that run's callback already sent.
 */
export function changeDeliveryKey(operationId: string, server: string): string {
  return `${operationId}#change#${server}`;
}

const storedResultSchema = (run: ChangeCallback) =>
  z.looseObject({
    operationId: z.literal(run.operationId),
    status: z.string(),
    targets: z.array(z.looseObject({ server: z.literal(run.server) })).length(1),
  });

/**
 * The ChangeCallback machine's one step: the change's result, as the API function kept it, POSTed
 * once to its callback URL. Run again (its own failure is retried; an event may come twice), the
 * ledger answers the first delivery's outcome and nothing is sent again. A result that is missing
 * or not this change's fails the step (then the execution: its alarm), rather than POST another.
 */
export async function deliverChange(
  deps: Pick<StepDeps, 'blobs' | 'ledger' | 'deliver' | 'store'>,
  run: ChangeCallback,
) {
  const key = changeResultKey(run.operationId);
  const text = await deps.blobs.get(key);
  if (text === undefined) {
    throw new BootstrapError('INTERNAL', `${run.operationId}: no result to deliver at ${key}`, {
      operationId: run.operationId,
      key,
    });
  }
  // Checked, but POSTed as it was parsed: zod's copy would put the checked keys first.
  const stored: unknown = JSON.parse(text);
  if (!storedResultSchema(run).safeParse(stored).success) {
    throw new BootstrapError('INTERNAL', `${run.operationId}: ${key} is not this change's result`, {
      operationId: run.operationId,
      key,
    });
  }
  const result = stored as FleetResult;
  const resultUrl = deps.blobs.urlOf ? await deps.blobs.urlOf(key) : `s3://${deps.blobs.bucket}/${key}`;
  const callback = await deliverOnce(
    deps,
    run.callbackUrl,
    result,
    resultUrl,
    changeDeliveryKey(run.operationId, run.server),
  );
  return { operationId: run.operationId, status: result.status, callback };
}
