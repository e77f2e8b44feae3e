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

/**
 * Whether a transport of this process reads the backlog. Until one says so, runs do not use the
 * AsyncLocalStorage at all: on Node 20 and 22 its first `run` installs async hooks for the whole
 * process, after which every promise and every socket write pays for them (about 0.3 ms of CPU
 * per host of an SSH heartbeat, which reads no backlog).
 */
let wanted = false;

/**
 * Says that a transport of this process reads the backlog (SSM's batcher). Call it before the
 * runs whose backlog it needs: a target already running does not see one.
 */
export function wantFleetBacklog(): void {
  wanted = true;
}

/** Runs `fn` as the work of one target of a run whose backlog is `backlog`. */
export function withFleetBacklog<T>(backlog: FleetBacklog, fn: () => T): T {
  return wanted ? storage.run(backlog, fn) : fn();
}

/** The backlog of the fleet run the caller works for, if it works for one. */
export function currentFleetBacklog(): FleetBacklog | undefined {
  return storage.getStore();
}
