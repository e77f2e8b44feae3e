/**
 * The long routes of SPEC 7.1: `provision`, `upgrade` and `/fleet/upgrade` answer 202 with
 * `{ operationId }` and a `Location` at once; a run named by the operation id (a Step Functions
 * execution in the cloud, the in-process driver locally) follows the work to its end and calls
 * back once.
 *
 * A server's operation is started here, detached, before the 202: what refuses it (`LOCKED`,
 * `UNKNOWN_ROLE`, `INVALID_SCRIPT`, `CONFIG_ERROR`, an unreachable host) is the request's own
 * error status, and the journal that `Location` names exists when the client first asks. A
 * fleet run only validates here (body, rates, selector), starts the run, and records it.
 *
 * Idempotency: an `Idempotency-Key` header (or `operationId` in the body) is the operation id.
 * A repeat finds that id's journal on the host (or the fleet run in the store) and answers 202
 * with the same id, and starts its run again: that starts nothing new (an execution's name is
 * unique; the in-process driver keeps the ids it runs), and a start lost after the operation
 * began is made good, so its callback still comes (SPEC 5). The same id with a different command
 * or arguments is refused, and so is one id for a fleet run and for one server's operation (SPEC
 * 7.1: "never a second run"), before anything starts.
 */
import { parseCallbackUrl } from '../callback/index.ts';
import { assertOperationId } from '../config/names.ts';
import { BootstrapError, toBootstrapError } from '../errors.ts';
import { commandArgs, selectTargets, validateRateControl } from '../fleet/index.ts';
import type { LongRequest } from '../fleet/job.ts';
import type { AnyCommandRow } from '../operations/command-row.ts';
import { newOperationId } from '../operations/ids.ts';
import { type Journal, runCommand, runRow } from '../operations/index.ts';
import { assertSameRequest } from '../operations/same-request.ts';
import type { HostTarget } from '../operations/types.ts';
import { present } from '../optional.ts';
import { param, type Route, type RouteContext, runOptions } from './context.ts';
import { headerOf, jsonResult, readJsonBody, readQuery } from './http.ts';
import { fleetUpgradeBodySchema, parseWith } from './params.ts';

/** The operation id of a request: `Idempotency-Key`, else the body's `operationId`, else a new one. */
function operationIdOf(context: RouteContext, bodyId: string | undefined): { id: string; given: boolean } {
  const header = headerOf(context.event, 'idempotency-key')?.trim();
  if (header !== undefined) {
    try {
      assertOperationId(header);
    } catch (error) {
      throw new BootstrapError('INVALID_REQUEST', `Idempotency-Key: ${toBootstrapError(error).message}`, {
        header: 'Idempotency-Key',
      });
    }
    if (bodyId !== undefined && bodyId !== header) {
      throw new BootstrapError('INVALID_REQUEST', 'Idempotency-Key and the body operationId differ', {
        idempotencyKey: header,
        operationId: bodyId,
      });
    }
    return { id: header, given: true };
  }
  if (bodyId !== undefined) return { id: bodyId, given: true };
  return { id: (context.deps.newOperationId ?? newOperationId)(), given: false };
}

/**
 * SPEC 5's check of a request's `callbackUrl` before anything starts (INVALID_REQUEST naming the
 * field): the API's long routes and the batch-upgrade function.
 */
export function checkCallbackUrl(url: string | undefined, allowPrivate: boolean): void {
  if (url === undefined) return;
  try {
    parseCallbackUrl(url, { allowPrivate });
  } catch (error) {
    throw new BootstrapError('INVALID_REQUEST', `callbackUrl: ${toBootstrapError(error).message}`, {
      field: 'callbackUrl',
    });
  }
}

function accepted(operationId: string, location: string) {
  return jsonResult(202, { operationId }, { location });
}

/** What a long request names under its id (same-request.ts), the operation id not among its arguments. */
function namedBy(request: LongRequest) {
  const { command, operationId: _, ...args } = request;
  return { command, args };
}

/**
 * A server's operation may not take the id of a fleet run: the store keeps fleet runs only, so a
 * record under the id is one, whichever hosts its selection reached.
 */
async function notAFleetRun(context: RouteContext, operationId: string, request: LongRequest): Promise<void> {
  const record = await context.deps.runStore?.get(operationId);
  if (record) {
    const fleetRun = { kind: 'fleet' as const, command: record.command, args: record.args };
    assertSameRequest(operationId, { kind: 'server', ...namedBy(request) }, fleetRun);
  }
}

/** The journal of `operationId` on `host`, or undefined when the host has none. */
async function existingJournal(context: RouteContext, host: HostTarget, operationId: string) {
  try {
    return (await runCommand(
      host,
      { command: 'operation.get', operationId },
      runOptions(context),
    )) as Journal;
  } catch (error) {
    const failure = toBootstrapError(error);
    const notFound =
      failure.code === 'INVALID_REQUEST' &&
      failure.details['operationId'] === operationId &&
      failure.details['pattern'] === undefined;
    if (notFound) return undefined;
    throw failure;
  }
}

/**
 * Starts a server's long operation (`POST …/provision`, `…/upgrade`: command-routes.ts) detached,
 * hands it to a run that follows it and calls back, and answers 202.
 */
export async function startServerOperation(
  context: RouteContext,
  row: AnyCommandRow,
  request: LongRequest,
  body: {
    callbackUrl?: string | undefined;
    operationId?: string | undefined;
    waitLockSeconds?: number | undefined;
  },
) {
  checkCallbackUrl(body.callbackUrl, context.deps.allowPrivateCallbacks === true);
  const server = param(context, 'server');
  const { id, given } = operationIdOf(context, body.operationId);
  const host = context.deps.fleet.target(server);
  const location = `/servers/${encodeURIComponent(server)}/operations/${encodeURIComponent(id)}`;
  const waitLock = present({ waitLockSeconds: body.waitLockSeconds });
  const job = {
    kind: 'server' as const,
    operationId: id,
    server,
    request,
    ...present({ callbackUrl: body.callbackUrl }),
    ...waitLock,
  };
  const follow = async () => {
    await context.deps.dispatch(job);
    return accepted(id, location);
  };
  if (given) await notAFleetRun(context, id, request);
  // The id is taken before the host is touched: one that already names another run (another
  // server's operation under the same id, a fleet run) is refused here, not after the operation ran.
  const giveBack = (await context.deps.reserve?.(job)) ?? (() => {});
  /** The operation exists on the host under this id: from then on the id stays taken. */
  let started = false;
  try {
    const existing = given ? await existingJournal(context, host, id) : undefined;
    if (existing) {
      // Another operation under this id on the host: refused, and nothing of this request began.
      assertSameRequest(id, namedBy(request), existing);
      started = true;
      // Dispatched again, as /fleet/upgrade does on a repeat: when the first request's dispatch
      // failed after the operation began, nothing else would follow it and call back (SPEC 5: "its
      // aggregated result is POSTed there as JSON once it ends"). A run already following it is
      // not started twice (dispatch is idempotent by operation id), nor is a delivered callback
      // POSTed again (the delivery ledger).
      return await follow();
    }
    const { command: _, ...args } = request;
    const journal = (await runRow(
      row,
      host,
      { ...args, operationId: id },
      runOptions(context, { detach: true, ...waitLock }),
    )) as Journal;
    started = true;
    assertSameRequest(id, namedBy(request), journal);
    return await follow();
  } catch (error) {
    // A start refused before the operation began (LOCKED, UNKNOWN_ROLE, an unreachable host)
    // holds nothing: the id is given back. Once the operation began the id stays its own, even
    // when its run could not be started: the same request again starts that run.
    if (!started) await Promise.resolve(giveBack()).catch(() => {});
    throw error;
  }
}

/** `POST /fleet/upgrade`: SPEC 7.1's body; the run is started and recorded, its result goes to the callback. */
async function fleetUpgrade(context: RouteContext) {
  readQuery(context.event, []);
  const body = parseWith(fleetUpgradeBodySchema, readJsonBody(context.event), 'POST /fleet/upgrade');
  validateRateControl(body);
  checkCallbackUrl(body.callbackUrl, context.deps.allowPrivateCallbacks === true);
  selectTargets(context.deps.fleet, body.select);
  const { id } = operationIdOf(context, body.operationId);
  const location = `/fleet/operations/${encodeURIComponent(id)}`;
  const request = { command: 'product.upgrade' as const, product: body.product, version: body.version };
  const store = context.deps.runStore;
  const { operationId: _, ...job } = body;
  const kept = await store?.get(id);
  if (kept) assertSameRequest(id, namedBy(request), kept);
  const fleetJob = { kind: 'fleet' as const, operationId: id, ...job };
  // The id is taken first: one that already names one server's operation (which the store does
  // not keep) is refused before anything is written or started. It is not given back: a fleet
  // run's start that failed is made good by the same request again.
  await context.deps.reserve?.(fleetJob);
  // Started before it is recorded, and started again on a repeat: a run is named by its id, so
  // this starts nothing new, and a start that was lost on an earlier try is made good. The run's
  // first step keeps the record made here, or makes it.
  await context.deps.dispatch(fleetJob);
  if (store) {
    const { created, record } = await store.create({
      operationId: id,
      command: request.command,
      args: commandArgs({ ...request, operationId: id }),
      status: 'running',
      startedAt: new Date().toISOString(),
    });
    if (!created) assertSameRequest(id, namedBy(request), record);
  }
  return accepted(id, location);
}

/** `GET /fleet/operations/{operationId}`: the run while it runs, then its aggregated result (or where to read it). */
async function getFleetOperation(context: RouteContext) {
  readQuery(context.event, []);
  const operationId = param(context, 'operationId');
  const store = context.deps.runStore;
  const record = await store?.get(operationId);
  if (!record) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      store
        ? `no fleet operation ${operationId} here`
        : 'fleet runs are not kept by this deployment; their results go to the callback',
      { operationId },
    );
  }
  const { resultLocation } = record;
  if (resultLocation === undefined || context.deps.resultUrl === undefined) return jsonResult(200, record);
  // Where the store keeps no targets (DynamoDB), the whole result is one signed GET away.
  return jsonResult(200, { ...record, resultUrl: await context.deps.resultUrl(resultLocation) });
}

/** The fleet's routes (no command of one server's: SPEC 4's runs). */
export const fleetRoutes: Route[] = [
  { method: 'POST', path: '/fleet/upgrade', handle: fleetUpgrade },
  { method: 'GET', path: '/fleet/operations/{operationId}', handle: getFleetOperation },
];
