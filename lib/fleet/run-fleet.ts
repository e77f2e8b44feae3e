/**
 * One operation over a selection of hosts (SPEC 4): canaries one by one, then a fan-out bounded
 * by `maxConcurrency` (p-limit) that stops starting targets once more than `maxErrors` have
 * failed, an optional health gate after each successful target, a per-target timeout, and the
 * aggregated result. What running one target means is injected (`runTarget`), so the same
 * runner serves SSH, SSM and local hosts, mixed in one run.
 */
import pLimit from 'p-limit';
import { BootstrapError, type ErrorBody, type ErrorCode, errorBody } from '../errors.ts';
import type { CommandName } from '../operations/types.ts';
import { aggregate, type FleetResult, type TargetReport } from './aggregate.ts';
import { DEFAULT_CANARY, type RateControlInput, resolveRateControl } from './rate.ts';

/** What `runTarget` resolves with; a failure is a thrown BootstrapError instead. */
export interface TargetOutcome {
  status: 'succeeded';
  result: unknown;
}

/** Runs the operation on one host; must give up (rejecting) when `signal` aborts. */
export type RunTarget = (server: string, signal: AbortSignal) => Promise<TargetOutcome>;

/** `heartbeat.appstack`'s answer (SPEC 2.5.1): only `status` is read; the whole answer goes into a gate failure's details. */
export interface HealthReport {
  status: 'healthy' | 'degraded' | 'down';
}

/** Runs `heartbeat.appstack` on one host for the health gate. */
export type HealthCheck = (server: string, signal: AbortSignal) => Promise<HealthReport>;

/** Why targets were left `skipped`. */
export type StopReason = 'MAX_ERRORS_EXCEEDED' | 'CANARY_FAILED' | 'ABORTED';

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

/** Codes that mean the host was not reached; such targets are `unreachable`, not `failed`. */
export const UNREACHABLE_CODES: ReadonlySet<ErrorCode> = new Set([
  'UNREACHABLE',
  'AUTH_FAILED',
  'HOST_KEY_MISMATCH',
  'TRANSPORT_TIMEOUT',
]);

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
  onProgress?: (event: FleetProgressEvent) => void;
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
    report.status === 'failed' ||
    (report.status === 'unreachable' && options.countUnreachableAsErrors === true);

  const run = async (index: number, phase: FleetPhase): Promise<TargetReport> => {
    const server = targets[index]!;
    emit({ type: 'started', server, position: index + 1, total, phase });
    const report = await runOneTarget(server, options, healthGate);
    done += 1;
    reports[index] = report;
    if (isError(report)) errors += 1;
    emit({ type: 'finished', server, position: index + 1, total, phase, done, report });
    // Running targets finish; queued ones see the flag when their slot frees and are skipped.
    if (phase === 'fleet' && errors > rate.maxErrors) stop('MAX_ERRORS_EXCEEDED');
    return report;
  };

  try {
    // Canaries: one at a time until `canary` of them succeeded. An unreachable one proves
    // nothing, so the next target takes its place; a failed one stops the whole run.
    let next = 0;
    let canariesSucceeded = 0;
    while (canariesSucceeded < rate.canary && next < total && !stopReason) {
      const report = await run(next, 'canary');
      next += 1;
      if (report.status === 'succeeded') canariesSucceeded += 1;
      else if (isError(report)) stop('CANARY_FAILED');
    }

    const limit = pLimit(rate.maxConcurrency);
    const rest: Promise<unknown>[] = [];
    for (let index = next; index < total; index += 1) {
      rest.push(
        limit(async () => {
          if (stopReason) return skip(index, stopReason);
          await run(index, 'fleet');
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

/** One target, with its timeout and health gate; never rejects. */
async function runOneTarget(
  server: string,
  options: RunFleetOptions,
  healthGate: boolean,
): Promise<TargetReport> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = options.targetTimeoutMs;
  const timedOut = new Promise<TargetReport>((resolve) => {
    if (timeoutMs === undefined) return;
    timer = setTimeout(() => {
      const error = new BootstrapError('TRANSPORT_TIMEOUT', `${server}: no outcome within ${timeoutMs} ms`, {
        server,
        reason: 'TARGET_TIMEOUT',
        timeoutMs,
      });
      controller.abort(error);
      resolve({ server, status: 'failed', error: error.toJSON() });
    }, timeoutMs);
  });
  const work = attempt(server, options, healthGate, controller.signal);
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function attempt(
  server: string,
  options: RunFleetOptions,
  healthGate: boolean,
  signal: AbortSignal,
): Promise<TargetReport> {
  let outcome: TargetOutcome;
  try {
    outcome = await options.runTarget(server, signal);
  } catch (error) {
    const body = errorBody(error);
    return { server, status: UNREACHABLE_CODES.has(body.code) ? 'unreachable' : 'failed', error: body };
  }
  if (!healthGate || !options.healthCheck) return { server, status: 'succeeded', result: outcome.result };
  const gateError = await checkHealth(server, options.command, options.healthCheck, signal, outcome.result);
  if (gateError) return { server, status: 'failed', error: gateError };
  return { server, status: 'succeeded', result: outcome.result };
}

/**
 * SPEC 2.6 has no code of its own for a failed gate; the target counts as failed like a hook
 * that failed, with `details.reason: "HEALTH_GATE_FAILED"`, the appstack answer (or the error
 * that prevented it) and the operation's own result, which did succeed.
 */
async function checkHealth(
  server: string,
  command: CommandName,
  healthCheck: HealthCheck,
  signal: AbortSignal,
  result: unknown,
): Promise<ErrorBody | undefined> {
  try {
    const appstack = await healthCheck(server, signal);
    if (appstack.status === 'healthy') return undefined;
    return {
      code: 'HOOK_FAILED',
      message: `${server}: health gate: heartbeat.appstack is ${appstack.status} after ${command}`,
      details: { server, reason: 'HEALTH_GATE_FAILED', appstack, result },
    };
  } catch (error) {
    const cause = errorBody(error);
    return {
      code: 'HOOK_FAILED',
      message: `${server}: health gate: heartbeat.appstack could not be read after ${command}: ${cause.message}`,
      details: { server, reason: 'HEALTH_GATE_FAILED', error: cause, result },
    };
  }
}
