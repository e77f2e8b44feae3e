/**
 * A fleet run's share of the worker's concurrency (SPEC 7.3 v2), held from its first canary to
 * its aggregate step: one unit through the canary stage (canaries run one at a time), then what
 * its Map asks for (`plan.mapConcurrency`) as the pool grants it (lib/fleet/concurrency-pool.ts);
 * the Map's MaxConcurrency is what was granted. Ungranted, the run waits and asks again, the wait
 * growing from 10 s to 5 minutes so that days of waiting stay far inside an execution's history.
 * The aggregate step gives the units back; an execution that ends without it (failed, timed out,
 * aborted) gives them back through the stack's EventBridge rule (`run-ended`). EventBridge
 * delivers Step Functions' events on a best-effort basis, so a run that finds the pool short also
 * asks Step Functions whether each holder's execution still runs, and gives back the units of
 * those that ended; past that, a holder's lease ends with its execution's time limit. Units given
 * back at an execution's end are free only `INVOCATION_TAIL_MS` after it: the invocations it
 * started run on.
 *
 * Without a pool (a run in one process), every run is granted what it asks for.
 */
import { LAMBDA_MAX_MS } from '../heartbeat-shards.ts';
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

/** The most holders' executions one ungranted ask looks up. */
export const MAX_LOOKUPS = 20;

/**
 * Reserves the units of the run's next stage; run again, it answers the same while the pool stays
 * as it is. `execution`: the run's own execution ARN, kept with its units.
 */
export async function reserveSlots(deps: StepDeps, run: FleetRunState, execution?: string): Promise<Slots> {
  const { plan } = run;
  const stage = plan.canary.done ? 'fleet' : 'canary';
  const wanted = stage === 'canary' ? 1 : plan.mapConcurrency;
  const pool = deps.pool;
  // The lease ends with the execution's time limit (from the run's start; a start that does not
  // read as a time counts from now, which can only hold the units longer).
  const started = Date.parse(run.startedAt);
  const until = (Number.isFinite(started) ? started : Date.now()) + FLEET_RUN_TIMEOUT_MS;
  const ask = () =>
    pool
      ? pool.reserve(run.operationId, wanted, poolCapacity(deps), until, execution)
      : Promise.resolve(wanted);
  let granted = await ask();
  if (granted === 0 && (await releaseEnded(deps, run.operationId)) > 0) granted = await ask();
  // Tries count this stage's ungranted asks in a row: a new stage starts with the shortest wait.
  const waiting = plan.slots.stage === stage && plan.slots.granted === 0 && plan.slots.tries > 0;
  const tries = granted > 0 ? 0 : (waiting ? plan.slots.tries : 0) + 1;
  await showWaiting(deps, run.operationId, granted, waiting);
  return { stage, granted, wait: granted > 0 ? 0 : slotWaitSeconds(tries), tries };
}

/** The most holders a waiting run's record names. */
export const MAX_NAMED_HOLDERS = 10;

/**
 * What `GET /fleet/operations/{id}` shows of a run that waits for units: set at its first
 * ungranted ask of a stage (since when, and who held the units), cleared once it is granted.
 */
async function showWaiting(deps: StepDeps, operationId: string, granted: number, wasWaiting: boolean) {
  if (granted > 0) {
    if (wasWaiting) await deps.store.update(operationId, { waiting: null });
    return;
  }
  if (wasWaiting || !deps.pool) return;
  const holders = Object.keys(await deps.pool.holdings())
    .filter((holder) => holder !== operationId)
    .slice(0, MAX_NAMED_HOLDERS);
  const since = (deps.now?.() ?? new Date()).toISOString();
  await deps.store.update(operationId, { waiting: { for: 'concurrency', since, holders } });
}

/**
 * How long after a run's end its units stay held when it may have left invocations running: a
 * Lambda invocation goes on after the execution that started it was aborted, timed out or failed
 * (Step Functions does not stop it), for at most Lambda's 15 minutes.
 */
export const INVOCATION_TAIL_MS = LAMBDA_MAX_MS;

/**
 * Gives back what the run holds: at once when none of its invocations can still run (its Map
 * ended), else `INVOCATION_TAIL_MS` after it ended (`ended`: at `endedAt`, or now).
 */
export async function releaseSlots(
  deps: Pick<StepDeps, 'pool'>,
  operationId: string,
  ended?: { endedAt?: number },
): Promise<void> {
  await deps.pool?.release(operationId, ended && { tailMs: INVOCATION_TAIL_MS, endedAt: ended.endedAt });
}

/**
 * Gives back the units of the other holders whose execution Step Functions says has ended (their
 * `run-ended` event lost), `INVOCATION_TAIL_MS` after it ended; answers how many of them are free
 * now.
 * Looks up at most `MAX_LOOKUPS`, those whose lease ends first; a lookup that fails counts as
 * still running.
 */
async function releaseEnded(deps: StepDeps, self: string): Promise<number> {
  const { pool, executionEnded } = deps;
  if (!pool || !executionEnded) return 0;
  const others = Object.entries(await pool.holdings())
    .filter(([holder, holding]) => holder !== self && holding.execution !== undefined)
    .sort(([, a], [, b]) => a.until - b.until)
    .slice(0, MAX_LOOKUPS);
  const ended = await Promise.all(
    others.map(([holder, holding]) =>
      executionEnded(holding.execution!).then(
        (endedAt) => (endedAt === undefined ? undefined : { holder, endedAt }),
        () => undefined,
      ),
    ),
  );
  const gone = ended.filter((found) => found !== undefined);
  for (const { holder, endedAt } of gone) await releaseSlots(deps, holder, { endedAt });
  if (gone.length === 0) return 0;
  // Free now: those whose tail had passed already (no longer in the holdings, on the pool's clock).
  const left = await pool.holdings();
  return gone.filter(({ holder }) => !Object.hasOwn(left, holder)).length;
}

/**
 * The execution ended without its last step: the units of the run it names are given back —
 * the holder of that name, and any holder kept with that execution's ARN (an execution's name is
 * its operation id, shortened past 80 characters) — once the invocations it may have left running
 * have ended (`INVOCATION_TAIL_MS` from now).
 */
export async function runEnded(deps: Pick<StepDeps, 'pool'>, input: RunEndedInput) {
  const pool = deps.pool;
  if (pool) {
    const holders = Object.entries(await pool.holdings())
      .filter(([holder, holding]) => holder === input.operationId || holding.execution === input.execution)
      .map(([holder]) => holder);
    for (const holder of holders) await releaseSlots(deps, holder, {});
  }
  return { operationId: input.operationId, released: true };
}
