/**
 * The concurrency shared by every fleet run at once (SPEC 7.3 v2: "fleet runs never ask for more
 * concurrent work than the functions' reserved concurrency allows"). One run's Map is capped below
 * the function's reserved concurrency, but two runs side by side could together ask for twice
 * that. So each run holds a number of units of one pool (the reserved concurrency less the steps'
 * headroom) for as long as it invokes the function for its targets, and its Map runs at most that
 * many children at once: all runs together never ask for more than the pool.
 *
 * This is the semaphore of AWS's "controlling concurrency in distributed systems using AWS Step
 * Functions" pattern on the run table (one item, conditional writes), with two differences the
 * runs need: a holder takes several units (a Distributed Map's concurrency is fixed when it
 * starts), and each holder carries a lease (its execution's time limit), so a run that ended
 * without releasing — an execution aborted, timed out or failed, whose release event was lost —
 * frees its units at the latest when it could no longer be running.
 *
 * How many a run is granted (`grantUnits`): what it asks for, as far as the pool has them free,
 * and only when that is at least a fair share — the pool split evenly among its live holders and
 * this one — or all it asked for; otherwise none, and the run waits and asks again. A run that
 * arrives while another holds the whole pool therefore waits for it rather than starting a Map of
 * one child, which it could never widen later.
 */

/** The pool of the worker's concurrency, which every fleet run's canaries and Map children share. */
export const WORKER_POOL = 'worker';
/** The pool of the heartbeat function's concurrency, which every heartbeat run's shards share. */
export const HEARTBEAT_POOL = 'heartbeat';
export type PoolName = typeof WORKER_POOL | typeof HEARTBEAT_POOL;

/**
 * One holder's units, when its lease ends (milliseconds since the epoch) and, when it is a Step
 * Functions execution, its ARN: whether it still runs can then be asked of Step Functions.
 */
export interface PoolHolding {
  units: number;
  until: number;
  execution?: string | undefined;
}

/** When a holder that ended may still have invocations running: `tailMs` after `endedAt` (or now). */
export interface ReleaseTail {
  tailMs: number;
  endedAt?: number | undefined;
}

export interface ConcurrencyPool {
  /**
   * Sets what `holder` holds to the units `grantUnits` grants it (at most `wanted`, at most
   * `capacity` in all holders), leased until `until`; answers the units held after it. 0: none
   * are granted now (what the holder held before is kept), ask again later. Asking again with
   * the same numbers answers the same while the other holders stay as they are.
   */
  reserve(
    holder: string,
    wanted: number,
    capacity: number,
    until: number,
    execution?: string,
  ): Promise<number>;
  /**
   * Gives back all `holder` holds; nothing when it holds nothing. `tail`: not before `tailMs`
   * after `endedAt` (default: now, on the pool's clock), its lease shortened to then — an
   * invocation the holder started may still run until then.
   */
  release(holder: string, tail?: ReleaseTail): Promise<void>;
  /** Every holding whose lease has not ended, by holder. */
  holdings(): Promise<Record<string, PoolHolding>>;
}

/**
 * The units `holder` may hold, given every holder's holding (those whose lease has ended are
 * not counted), the units it asks for and the pool's size; 0 when it must wait.
 */
export function grantUnits(
  holdings: Readonly<Record<string, PoolHolding>>,
  holder: string,
  wanted: number,
  capacity: number,
  now: number,
): number {
  if (!Number.isInteger(wanted) || wanted < 1)
    throw new RangeError(`a holder asks for 1 unit or more, not ${wanted}`);
  let others = 0;
  let otherHolders = 0;
  for (const [name, holding] of Object.entries(holdings)) {
    if (name === holder || holding.until <= now) continue;
    others += holding.units;
    otherHolders += 1;
  }
  const free = Math.min(wanted, capacity - others);
  const fairShare = Math.max(1, Math.floor(capacity / (otherHolders + 1)));
  return free >= Math.min(wanted, fairShare) ? free : 0;
}

/**
 * The holdings after `holder` was granted `units` (0: kept as it was), leases that ended dropped.
 */
export function afterGrant(
  holdings: Readonly<Record<string, PoolHolding>>,
  holder: string,
  grant: { units: number; until: number; execution?: string | undefined },
  now: number,
): Record<string, PoolHolding> {
  const live = liveHoldings(holdings, now);
  const { units, until, execution } = grant;
  if (units > 0) live[holder] = execution === undefined ? { units, until } : { units, until, execution };
  return live;
}

/**
 * The holdings after `holder` gave its units back (with a `tail`, not before its end: its lease
 * shortened to it); undefined when that changes nothing.
 */
export function afterRelease(
  holdings: Readonly<Record<string, PoolHolding>>,
  holder: string,
  tail: ReleaseTail | undefined,
  now: number,
): Record<string, PoolHolding> | undefined {
  const held = Object.hasOwn(holdings, holder) ? holdings[holder] : undefined;
  if (held === undefined) return undefined;
  const { [holder]: _gone, ...rest } = holdings;
  const after = tail === undefined ? now : (tail.endedAt ?? now) + tail.tailMs;
  if (after <= now) return rest;
  if (held.until <= after) return undefined;
  return { ...rest, [holder]: { ...held, until: after } };
}

/** The holdings whose lease has not ended at `now`. */
export function liveHoldings(
  holdings: Readonly<Record<string, PoolHolding>>,
  now: number,
): Record<string, PoolHolding> {
  const live: Record<string, PoolHolding> = {};
  for (const [name, holding] of Object.entries(holdings)) {
    if (holding.until > now) live[name] = { ...holding };
  }
  return live;
}

/** A pool for one process (local runs and tests of the steps). */
export function createMemoryConcurrencyPool(now: () => number = Date.now): ConcurrencyPool {
  let holdings: Record<string, PoolHolding> = {};
  return {
    holdings: async () => liveHoldings(holdings, now()),
    async reserve(holder, wanted, capacity, until, execution) {
      const at = now();
      const units = grantUnits(holdings, holder, wanted, capacity, at);
      holdings = afterGrant(holdings, holder, { units, until, execution }, at);
      return units;
    },
    async release(holder, tail) {
      holdings = afterRelease(holdings, holder, tail, now()) ?? holdings;
    },
  };
}
