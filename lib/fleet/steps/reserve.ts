/**
 * A fleet run's share of the worker's concurrency (SPEC 7.3 v2), held from its first canary to
 * its aggregate step: one unit through the canary stage (canaries run one at a time), then what
 * its Map asks for (`plan.mapConcurrency`) as the pool grants it (lib/fleet/concurrency-pool.ts);
 * the Map's MaxConcurrency is what was granted. Ungranted, the run waits and asks again, the wait
 * growing from 10 s to 5 minutes so that days of waiting stay far inside an execution's history.
 * The aggregate step gives the units back; an execution that ends without it (failed, timed out,
 * aborted) gives them back through the stack's EventBridge rule (`run-ended`), or, were that
 * event lost, when the holder's lease — the execution's time limit — ends.
 *
 * Without a pool (a run in one process), every run is granted what it asks for.
 */
import type { StepDeps } from './deps.ts';
import type { FleetRunState, RunEndedInput, Slots } from './events.ts';
import { DEFAULT_CONCURRENCY_CAP, MAX_MAP_CONCURRENCY } from './plan.ts';

/** A fleet run's time limit (its state machine's `timeout`): no run holds units past it. */
export const FLEET_RUN_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;
/** The first wait for units, and the longest. */
export const FIRST_SLOT_WAIT_SECONDS = 10;
export const MAX_SLOT_WAIT_SECONDS = 300;

/** The pool's size: the cap below the reserved concurrency, as the plan caps each run. */
export function poolCapacity(deps: Pick<StepDeps, 'concurrencyCap'>): number {
  return Math.min(deps.concurrencyCap ?? DEFAULT_CONCURRENCY_CAP, MAX_MAP_CONCURRENCY);
}

/** The seconds to wait before asking again after `tries` ungranted asks. */
export function slotWaitSeconds(tries: number): number {
  return Math.min(MAX_SLOT_WAIT_SECONDS, FIRST_SLOT_WAIT_SECONDS * 2 ** Math.max(0, tries - 1));
}

/** Reserves the units of the run's next stage; run again, it answers the same while the pool stays as it is. */
export async function reserveSlots(deps: StepDeps, run: FleetRunState): Promise<Slots> {
  const { plan } = run;
  const stage = plan.canary.done ? 'fleet' : 'canary';
  const wanted = stage === 'canary' ? 1 : plan.mapConcurrency;
  const granted = deps.pool
    ? await deps.pool.reserve(
        run.operationId,
        wanted,
        poolCapacity(deps),
        Date.parse(run.startedAt) + FLEET_RUN_TIMEOUT_MS,
      )
    : wanted;
  // Tries count this stage's ungranted asks in a row: a new stage starts with the shortest wait.
  const waiting = plan.slots.stage === stage && plan.slots.granted === 0;
  const tries = granted > 0 ? 0 : (waiting ? plan.slots.tries : 0) + 1;
  return { stage, granted, wait: granted > 0 ? 0 : slotWaitSeconds(tries), tries };
}

/** Gives back what the run holds (its aggregate step, or its execution's end). */
export async function releaseSlots(deps: Pick<StepDeps, 'pool'>, operationId: string): Promise<void> {
  await deps.pool?.release(operationId);
}

/** The execution ended without its aggregate step: its units are given back. */
export async function runEnded(deps: Pick<StepDeps, 'pool'>, input: RunEndedInput) {
  await releaseSlots(deps, input.operationId);
  return { operationId: input.operationId, released: true };
}
