/**
 * SPEC 4's canary rule, once for every driver: canaries run one at a time, in selection order;
 * an unreachable one proves nothing, so the next target takes its place; the stage ends when
 * `canary` of them have succeeded, when one has failed (the run stops: the rest are skipped), or
 * when the selection runs out. The in-process driver loops over it; on Step Functions a
 * Choice/Task loop calls it once per step, with the state in the execution.
 */
import type { TargetReport } from './aggregate.ts';
import { countsAsFailure } from './target.ts';

export interface CanaryState {
  /** The index of the next target to try as a canary. */
  next: number;
  succeeded: number;
  /** The stage is over: go on to the fan-out from `next`, unless `stopped`. */
  done: boolean;
  /** A canary failed: no further target starts. */
  stopped: boolean;
}

/** The stage before any canary ran (already done when there is nothing to canary). */
export function startCanary(canary: number, total: number): CanaryState {
  return { next: 0, succeeded: 0, done: canary <= 0 || total === 0, stopped: false };
}

/** The stage after the canary at `state.next` finished with `report`. */
export function advanceCanary(
  state: CanaryState,
  report: TargetReport,
  limits: { canary: number; total: number; countUnreachableAsErrors?: boolean | undefined },
): CanaryState {
  const next = state.next + 1;
  const succeeded = state.succeeded + (report.status === 'succeeded' ? 1 : 0);
  const stopped = countsAsFailure(report, limits.countUnreachableAsErrors === true);
  return { next, succeeded, stopped, done: stopped || succeeded >= limits.canary || next >= limits.total };
}

/** SPEC 4's maxErrors gate: a target may start only while no more than `maxErrors` have failed. */
export function mayStart(failures: number, maxErrors: number): boolean {
  return failures <= maxErrors;
}
