/**
 * One target of a fleet run (SPEC 4), decided once for every driver: the operation on its host,
 * then the health gate, within the per-target timeout; an error the transport raised before the
 * host was reached makes the target `unreachable`, any other error `failed`. The in-process
 * driver (run-fleet.ts) and the Step Functions steps (steps/) both run targets through here.
 */
import { BootstrapError, type ErrorBody, type ErrorCode, errorBody } from '../errors.ts';
import { withDeadline } from '../time/deadline.ts';
import type { TargetReport } from './aggregate.ts';

/** What `runTarget` resolves with; a failure is a thrown BootstrapError instead. */
export interface TargetOutcome {
  status: 'succeeded';
  result: unknown;
}

/** Runs the operation on one host; must give up (rejecting) when `signal` aborts. */
export type RunTarget = (server: string, signal: AbortSignal) => Promise<TargetOutcome>;

/**
 * `heartbeat.appstack`'s answer (SPEC 2.5.1): `status` decides the gate, the failing checks of
 * `products` name what failed; the whole answer goes into a gate failure's details.
 */
export interface HealthReport {
  status: 'healthy' | 'degraded' | 'down';
  products?: Record<string, { checks?: ReadonlyArray<{ check: string; ok: boolean }> }>;
}

/** Runs `heartbeat.appstack` on one host for the health gate. */
export type HealthCheck = (server: string, signal: AbortSignal) => Promise<HealthReport>;

/** Codes that mean the host was not reached; such targets are `unreachable`, not `failed`. */
export const UNREACHABLE_CODES: ReadonlySet<ErrorCode> = new Set([
  'UNREACHABLE',
  'AUTH_FAILED',
  'HOST_KEY_MISMATCH',
  'TRANSPORT_TIMEOUT',
]);

export interface TargetRun {
  command: string;
  runTarget: RunTarget;
  /** Required when `healthGate` is on. */
  healthCheck?: HealthCheck | undefined;
  healthGate: boolean;
  /**
   * How long the target (operation and health check) may take. Past it the target's signal
   * aborts and it is `failed` with `TRANSPORT_TIMEOUT` (`details.reason: "TARGET_TIMEOUT"`):
   * failed, not unreachable, because the host was possibly reached and may still be changing,
   * and a rollout whose every host hangs must spend its error budget and stop.
   */
  timeoutMs?: number | undefined;
  /** Aborts the target (the run was aborted). */
  signal?: AbortSignal | undefined;
}

/** Whether a finished target spends the error budget (and stops a canary stage). */
export function countsAsFailure(report: TargetReport, countUnreachableAsErrors = false): boolean {
  return report.status === 'failed' || (report.status === 'unreachable' && countUnreachableAsErrors);
}

/** Classifies an error thrown by a target's work: unreachable or failed. */
export function failedReport(server: string, error: unknown): TargetReport {
  const body = errorBody(error);
  return { server, status: UNREACHABLE_CODES.has(body.code) ? 'unreachable' : 'failed', error: body };
}

/** Runs one target with its timeout and health gate; never rejects. */
export async function runOneTarget(server: string, run: TargetRun): Promise<TargetReport> {
  const timeoutMs = run.timeoutMs;
  let timeout: BootstrapError | undefined;
  try {
    return await withDeadline(
      {
        ms: timeoutMs,
        signal: run.signal,
        timeoutError: () => {
          timeout = new BootstrapError('TRANSPORT_TIMEOUT', `${server}: no outcome within ${timeoutMs} ms`, {
            server,
            reason: 'TARGET_TIMEOUT',
            timeoutMs,
          });
          return timeout;
        },
      },
      (signal) => attempt(server, run, signal),
    );
  } catch (error) {
    // `attempt` never rejects: only the deadline does.
    if (error !== timeout || timeout === undefined) throw error;
    return { server, status: 'failed', error: timeout.toJSON() };
  }
}

async function attempt(server: string, run: TargetRun, signal: AbortSignal): Promise<TargetReport> {
  let outcome: TargetOutcome;
  try {
    outcome = await run.runTarget(server, signal);
  } catch (error) {
    return failedReport(server, error);
  }
  if (!run.healthGate || !run.healthCheck) return { server, status: 'succeeded', result: outcome.result };
  const gateError = await checkHealth(server, run.command, run.healthCheck, signal, outcome.result);
  if (gateError) return { server, status: 'failed', error: gateError };
  return { server, status: 'succeeded', result: outcome.result };
}

/** `product check` of each failing check, as the appstack answer lists them. */
function failingChecks(appstack: HealthReport): string[] {
  return Object.entries(appstack.products ?? {}).flatMap(([product, answer]) =>
    (answer.checks ?? []).filter((check) => !check.ok).map((check) => `${product} ${check.check}`),
  );
}

/**
 * A failed gate (SPEC 4) is `UNHEALTHY` (SPEC 2.6: `heartbeat.appstack` ran and the server is
 * `degraded` or `down`), a failed target, with `details.reason: "HEALTH_GATE_FAILED"`, the
 * appstack answer and the operation's own result, which did succeed. An appstack that could not
 * be read is a gate that failed too, `UNHEALTHY` with what prevented it in `details.error`: still
 * `failed`, never `unreachable` (its host was reached for the operation, whose journal the
 * console still links).
 */
async function checkHealth(
  server: string,
  command: string,
  healthCheck: HealthCheck,
  signal: AbortSignal,
  result: unknown,
): Promise<ErrorBody | undefined> {
  try {
    const appstack = await healthCheck(server, signal);
    if (appstack.status === 'healthy') return undefined;
    const failing = failingChecks(appstack);
    return {
      code: 'UNHEALTHY',
      message:
        `${server}: health gate: heartbeat.appstack is ${appstack.status} after ${command}` +
        (failing.length ? `: failing ${failing.join(', ')}` : ''),
      details: { server, reason: 'HEALTH_GATE_FAILED', appstack, result },
    };
  } catch (error) {
    const cause = errorBody(error);
    return {
      code: 'UNHEALTHY',
      message: `${server}: health gate: heartbeat.appstack could not be read after ${command}: ${cause.message}`,
      details: { server, reason: 'HEALTH_GATE_FAILED', error: cause, result },
    };
  }
}
