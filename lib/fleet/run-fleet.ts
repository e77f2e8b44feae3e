/**
 * One operation over a selection of hosts (SPEC 4): canaries one by one, then a fan-out bounded
 * by `maxConcurrency` (p-limit) that stops starting targets once more than `maxErrors` have
 * failed, an optional health gate after each successful target, a per-target timeout, and the
 * aggregated result. What running one target means is injected (`runTarget`), so the same
 * runner serves SSH, SSM and local hosts, mixed in one run.
 */
import pLimit from 'p-limit';
import { BootstrapError } from '../errors.ts';
import type { CommandName } from '../operations/types.ts';
import { type FleetBacklog, withFleetBacklog } from '../transport/backlog.ts';
import { aggregate, type FleetResult, type TargetReport } from './aggregate.ts';
import { advanceCanary, mayStart, startCanary } from './canary.ts';
import { DEFAULT_CANARY, type RateControlInput, resolveRateControl } from './rate.ts';
import { countsAsFailure, type HealthCheck, type RunTarget, runOneTarget } from './target.ts';

export {
  type HealthCheck,
  type HealthReport,
  type RunTarget,
  type TargetOutcome,
  UNREACHABLE_CODES,
} from './target.ts';

/** Why targets were left `skipped`. */
export type StopReason = 'MAX_ERRORS_EXCEEDED' | 'CANARY_FAILED' | 'ABORTED' | 'OUT_OF_TIME';

export type FleetPhase = 'canary' | 'fleet';

/** One line's worth of progress; `position` is the target's 1-based place in the selection. */
export type FleetProgressEvent =
  | { type: 'started'; server: string; position: number; total: number; phase: FleetPhase }
  | {
      type: 'finished';
      server: string;
      position: number;
      total: number;
      phase: FleetPhase;
      /** How many targets have finished or been skipped, this one included. */
      done: number;
      report: TargetReport;
    }
  | { type: 'skipped'; server: string; position: number; total: number; done: number; reason: StopReason }
  | { type: 'stopped'; reason: StopReason; errors: number; maxErrors: number };

export interface RunFleetOptions extends RateControlInput {
  operationId: string;
  command: CommandName;
  /** The command's arguments as the result shows them (see `commandArgs`). */
  args?: Record<string, unknown>;
  /** Host names, in selection (inventory) order; the result keeps this order. */
  targets: readonly string[];
  runTarget: RunTarget;
  /** Required when the health gate is on. */
  healthCheck?: HealthCheck;
  /** After each successful target, `healthCheck` must say `healthy`. Default: on for `product.upgrade`. */
  healthGate?: boolean;
  /** Unreachable targets spend the error budget (and stop a canary) too. Default false. */
  countUnreachableAsErrors?: boolean;
  /**
   * How long one target (operation and health check) may take. Past it the target's signal
   * aborts and it is `failed` with `TRANSPORT_TIMEOUT` (`details.reason: "TARGET_TIMEOUT"`):
   * failed, not unreachable, because the host was possibly reached and may still be changing,
   * and a rollout whose every host hangs must spend its error budget and stop.
   */
  targetTimeoutMs?: number;
  /** Stop starting targets (the rest are skipped) and abort the running ones. */
  signal?: AbortSignal;
  /**
   * The time left to the run's driver (a Lambda invocation's, a heartbeat shard's budget): a
   * target starts only while its whole `targetTimeoutMs` and `reserveMs` still fit; the rest are
   * `skipped` (`OUT_OF_TIME`) rather than cut off mid-way.
   */
  remainingTimeMs?: () => number;
  /** Kept back from `remainingTimeMs` for what follows the run (metrics, callback). Default 0. */
  reserveMs?: number;
  onProgress?: (event: FleetProgressEvent) => void;
  /** Called once a target's operation and health check are over (Fleet.release). */
  release?: (server: string) => void;
  now?: () => Date;
}

/**
 * Runs one operation over `targets` with SPEC 4's rate control; never rejects for a target's
 * failure (it is in the result), only for invalid options (`INVALID_REQUEST`, `INTERNAL`).
 * `canary` defaults to 1 for `product.upgrade` and to 0 for other commands.
 */
export async function runFleet(options: RunFleetOptions): Promise<FleetResult> {
  const now = options.now ?? (() => new Date());
  const targets = options.targets;
  const total = targets.length;
  const isUpgrade = options.command === 'product.upgrade';
  const rate = resolveRateControl(
    { ...options, canary: options.canary ?? (isUpgrade ? DEFAULT_CANARY : 0) },
    total,
  );
  const healthGate = options.healthGate ?? isUpgrade;
  if (healthGate && !options.healthCheck) {
    throw new BootstrapError('INTERNAL', 'the health gate is on but no health check was given');
  }
  const emit = options.onProgress ?? (() => {});
  const startedAt = now();
  const reports: (TargetReport | undefined)[] = new Array(total).fill(undefined);
  let done = 0;
  let errors = 0;
  let stopReason: StopReason | undefined;

  const stop = (reason: StopReason) => {
    if (stopReason) return;
    stopReason = reason;
    emit({ type: 'stopped', reason, errors, maxErrors: rate.maxErrors });
  };
  const onAbort = () => stop('ABORTED');
  if (options.signal?.aborted) stop('ABORTED');
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const skip = (index: number, reason: StopReason) => {
    done += 1;
    reports[index] = { server: targets[index]!, status: 'skipped' };
    emit({ type: 'skipped', server: targets[index]!, position: index + 1, total, done, reason });
  };
  const isError = (report: TargetReport) =>
    countsAsFailure(report, options.countUnreachableAsErrors === true);
  const outOfTime = () =>
    options.remainingTimeMs !== undefined &&
    options.remainingTimeMs() < (options.targetTimeoutMs ?? 0) + (options.reserveMs ?? 0);

  const run = async (index: number, phase: FleetPhase): Promise<TargetReport> => {
    const server = targets[index]!;
    emit({ type: 'started', server, position: index + 1, total, phase });
    const report = await runOneTarget(server, {
      command: options.command,
      runTarget: options.runTarget,
      healthCheck: options.healthCheck,
      healthGate,
      timeoutMs: options.targetTimeoutMs,
      signal: options.signal,
    });
    options.release?.(server);
    done += 1;
    reports[index] = report;
    if (isError(report)) errors += 1;
    emit({ type: 'finished', server, position: index + 1, total, phase, done, report });
    // Running targets finish; queued ones see the flag when their slot frees and are skipped.
    if (phase === 'fleet' && !mayStart(errors, rate.maxErrors)) stop('MAX_ERRORS_EXCEEDED');
    return report;
  };

  try {
    // Canaries: one at a time until `canary` of them succeeded. An unreachable one proves
    // nothing, so the next target takes its place; a failed one stops the whole run.
    let canary = startCanary(rate.canary, total);
    while (!canary.done && !stopReason) {
      if (outOfTime()) stop('OUT_OF_TIME');
      else {
        const report = await run(canary.next, 'canary');
        canary = advanceCanary(canary, report, {
          canary: rate.canary,
          total,
          countUnreachableAsErrors: options.countUnreachableAsErrors,
        });
        if (canary.stopped) stop('CANARY_FAILED');
      }
    }
    const next = canary.next;

    const limit = pLimit(rate.maxConcurrency);
    // What each target's transport may read: whether more targets (likely running the same
    // program) will start as slots free, so SSM can hold a not-full SendCommand for them.
    let begun = 0;
    const backlog: FleetBacklog = { waiting: () => (stopReason ? 0 : total - next - begun) };
    const rest: Promise<unknown>[] = [];
    for (let index = next; index < total; index += 1) {
      rest.push(
        limit(async () => {
          begun += 1;
          if (!stopReason && outOfTime()) stop('OUT_OF_TIME');
          if (stopReason) return skip(index, stopReason);
          await withFleetBacklog(backlog, () => run(index, 'fleet'));
        }),
      );
    }
    await Promise.all(rest);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }

  return aggregate({
    operationId: options.operationId,
    command: options.command,
    args: options.args ?? {},
    startedAt,
    finishedAt: now(),
    targets: reports.map((report, index) => report ?? { server: targets[index]!, status: 'skipped' }),
  });
}
