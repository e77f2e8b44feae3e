/**
 * The console-triggered batch upgrade (SPEC 7.3): the event is `/fleet/upgrade`'s body. It is
 * validated (body, rates, callback URL, selector) as `POST /fleet/upgrade` validates it, its id
 * claimed (refused when it names one server's operation, or another fleet upgrade), recorded, and
 * started as a fleet-run execution named by its operation id; the answer comes at once —
 * `{ operationId, executionArn, followAt }` — well within `aws lambda invoke`'s read timeout. A
 * retry with the same `operationId` starts nothing new; the result goes to the callback. It only
 * starts runs, so it reads no secret (neither the SSH key nor the callback secret).
 */
import { checkCallbackUrl } from '../lib/api/long-routes.ts';
import { fleetUpgradeBodySchema, parseWith } from '../lib/api/params.ts';
import { readEnvironment } from '../lib/cloud/environment.ts';
import { commandArgs, selectTargets, validateRateControl } from '../lib/fleet/index.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import { assertSameRequest } from '../lib/operations/same-request.ts';
import { runtime, startRun } from './composition.ts';

/** Lambda entry point. Invalid input throws (INVALID_REQUEST, UNKNOWN_SERVER), as the console shows. */
export async function handler(event: unknown) {
  const body = parseWith(fleetUpgradeBodySchema, event, 'batch upgrade');
  validateRateControl(body);
  checkCallbackUrl(
    body.callbackUrl,
    readEnvironment(undefined, ['callbackAllowPrivate']).callbackAllowPrivate,
  );
  const rt = await runtime({ secrets: false });
  selectTargets(rt.fleet, body.select);
  const { operationId: given, ...request } = body;
  const operationId = given ?? newOperationId();
  const job = { kind: 'fleet' as const, operationId, ...request };
  // Taken before anything is recorded or started: an id that names one server's operation (which
  // the run store does not keep) or another upgrade is refused here. Not given back: a start
  // that failed is made good by the same event again.
  await rt.claims.claim(job);
  const command = { command: 'product.upgrade' as const, product: body.product, version: body.version };
  const named = { command: command.command, args: commandArgs(command) };
  const { created, record } = await rt.store.create({
    operationId,
    ...named,
    status: 'running',
    startedAt: new Date().toISOString(),
  });
  if (!created) assertSameRequest(operationId, named, record);
  const { executionArn } = await startRun(rt, job);
  return { operationId, executionArn, followAt: `/fleet/operations/${operationId}` };
}
