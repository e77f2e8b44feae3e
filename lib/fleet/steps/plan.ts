/**
 * The first step of a fleet run on Step Functions: the selection resolved once (a changed
 * inventory does not change a running rollout), written to the runs bucket with each target's
 * place; the rate controls resolved by rate.ts as in-process; the Map's concurrency capped below
 * the reserved concurrency; the run's record created (kept when it exists: a re-run or a
 * repeated start answers the same plan). A request's own callback URL is the plan's; without one,
 * each target step keeps what its host's `[server] callback_url` says, and the aggregate step
 * calls back only where they all agree (config-callback.ts).
 */
import type { CommandRequest } from '../../operations/types.ts';
import { commandArgs } from '../aggregate.ts';
import { startCanary } from '../canary.ts';
import type { FleetRequest } from '../job.ts';
import { DEFAULT_CANARY, resolveRateControl } from '../rate.ts';
import { emptySummary } from '../run-store.ts';
import { runKeys, type StepDeps } from './deps.ts';
import { type FleetExecution, type FleetPlan, NO_SLOTS, type TargetItem } from './events.ts';

/** A Distributed Map runs at most this many child executions at once. */
export const MAX_MAP_CONCURRENCY = 10_000;
/** The cap when the deployment names none. */
export const DEFAULT_CONCURRENCY_CAP = 100;

/** The command every target runs. */
export function upgradeRequest(request: FleetRequest): CommandRequest {
  return { command: 'product.upgrade', product: request.product, version: request.version };
}

/** Plans the run; answers the same plan when run again. */
export async function planFleetRun(deps: StepDeps, input: FleetExecution): Promise<FleetPlan> {
  const { operationId, request } = input;
  const keys = runKeys(operationId);
  const targets = deps.fleet.select(request.select);
  const total = targets.length;
  const rate = resolveRateControl({ ...request, canary: request.canary ?? DEFAULT_CANARY }, total);
  const cap = Math.min(deps.concurrencyCap ?? DEFAULT_CONCURRENCY_CAP, MAX_MAP_CONCURRENCY);
  const items: TargetItem[] = targets.map((server, index) => ({ server, index }));
  const command = upgradeRequest(request);
  const { record } = await deps.store.create({
    operationId,
    command: command.command,
    args: commandArgs(command),
    status: 'running',
    startedAt: input.startedAt,
  });
  // The summary so far starts here, where the total is known (the API may have made the record).
  if (record.summary === undefined) await deps.store.update(operationId, { summary: emptySummary(total) });
  await deps.blobs.put(keys.targets, JSON.stringify(items));
  const canary = startCanary(rate.canary, total);
  if (canary.done) await deps.blobs.put(keys.fleet, JSON.stringify(items));
  const callbackUrl = request.callbackUrl ?? null;
  return {
    total,
    rate,
    mapConcurrency: Math.max(1, Math.min(rate.maxConcurrency, cap)),
    healthGate: request.healthGate ?? true,
    callbackUrl,
    bucket: deps.blobs.bucket,
    keys: { targets: keys.targets, fleet: keys.fleet, results: keys.results, result: keys.result },
    canary: { ...canary, fleetCount: canary.done ? total : 0 },
    slots: NO_SLOTS,
  };
}
