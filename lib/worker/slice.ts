/**
 * One invocation's share of a worker job: SPEC 4's fleet run (lib/fleet's `runFleet`) over the
 * targets not yet done, with the error budget and canaries that are left, until it ends or
 * `signal` says the invocation's time is up. Targets cut short by that signal, and those it kept
 * from starting, are not done: the next invocation follows or starts them under the same id.
 */
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { runFleet, type StopReason, type TargetReport } from '../fleet/index.ts';
import { type AppstackAnswer, type Journal, runCommand } from '../operations/index.ts';
import type { CommandRequest, RunOptions } from '../operations/types.ts';
import type { Fleet } from '../orchestrate/fleet.ts';
import { journalOutcome } from '../orchestrate/run.ts';
import type { Continuation, WorkerJob } from './job.ts';

export interface SliceInput {
  fleet: Fleet;
  job: WorkerJob;
  request: CommandRequest;
  state: Continuation;
  /** Aborts when the invocation must hand over. */
  signal: AbortSignal;
  onConfig: (config: BootstrapConfig) => void;
}

export interface SliceOutcome {
  /** Targets whose outcome is final, newly. */
  done: TargetReport[];
  canariesSucceeded: number;
  stopReason: StopReason | undefined;
}

/** A failed journal is the target's failure, with the journal in `details` (as in lib/orchestrate). */

/** Runs the job's pending targets until they are done or `signal` aborts. */
export async function runSlice(input: SliceInput): Promise<SliceOutcome> {
  const { fleet, job, request, state, signal } = input;
  const finished = new Set(state.done.map((report) => report.server));
  const pending = state.targets.filter((server) => !finished.has(server));
  const errorsSoFar = state.done.filter((report) => report.status === 'failed').length;
  const interrupted = new Set<string>();
  let canariesSucceeded = 0;
  let stopReason: StopReason | undefined;
  const options = (targetSignal: AbortSignal): RunOptions => ({
    signal: targetSignal,
    onConfig: input.onConfig,
    ...(job.waitLockSeconds === undefined ? {} : { waitLockSeconds: job.waitLockSeconds }),
  });
  // Whatever fails once the invocation's time is up is followed again by the next one.
  const noteInterrupted = (server: string, error: unknown): never => {
    if (signal.aborted) interrupted.add(server);
    throw error;
  };

  const result = await runFleet({
    operationId: job.operationId,
    command: request.command,
    targets: pending,
    maxConcurrency: state.rate.maxConcurrency,
    // A stopped run only follows what had started: nothing more may be skipped for errors.
    maxErrors: state.stopped ? pending.length : Math.max(0, state.rate.maxErrors - errorsSoFar),
    canary: state.stopped ? 0 : state.canariesLeft,
    healthGate: job.kind === 'fleet' && job.healthGate !== false,
    ...(job.kind === 'fleet' && job.targetTimeoutMs !== undefined
      ? { targetTimeoutMs: job.targetTimeoutMs }
      : {}),
    signal,
    onProgress: (event) => {
      if (event.type === 'stopped') stopReason ??= event.reason;
      if (event.type === 'finished' && event.phase === 'canary' && event.report.status === 'succeeded')
        canariesSucceeded += 1;
    },
    runTarget: async (server, targetSignal) => {
      try {
        const journal = (await runCommand(fleet.target(server), request, options(targetSignal))) as Journal;
        return { status: 'succeeded', result: journalOutcome(journal) };
      } catch (error) {
        return noteInterrupted(server, error);
      }
    },
    healthCheck: async (server, targetSignal) => {
      try {
        return (await runCommand(
          fleet.target(server),
          { command: 'heartbeat.appstack' },
          options(targetSignal),
        )) as AppstackAnswer;
      } catch (error) {
        return noteInterrupted(server, error);
      }
    },
  });

  const done = result.targets.filter((report) => {
    if (interrupted.has(report.server)) return false;
    // Skipped because the time was up (not for errors): still to run.
    return !(report.status === 'skipped' && stopReason === 'ABORTED');
  });
  return { done, canariesSucceeded, stopReason };
}
