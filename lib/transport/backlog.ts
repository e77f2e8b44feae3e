/**
 * A fleet run's backlog, visible to the code one of its targets runs: how many targets are still
 * waiting for a concurrency slot. A transport that batches (SSM's one `SendCommand` per 50
 * instances) reads it to tell whether more of the same work is about to arrive as running
 * targets finish and free their slots, and so whether a not-full batch is worth holding back.
 * It is a hint only: nothing is started, stopped or limited by it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface FleetBacklog {
  /** Targets of the run that have not started yet (and are not skipped). */
  waiting(): number;
}

const storage = new AsyncLocalStorage<FleetBacklog>();

/** Runs `fn` as the work of one target of a run whose backlog is `backlog`. */
export function withFleetBacklog<T>(backlog: FleetBacklog, fn: () => T): T {
  return storage.run(backlog, fn);
}

/** The backlog of the fleet run the caller works for, if it works for one. */
export function currentFleetBacklog(): FleetBacklog | undefined {
  return storage.getStore();
}
