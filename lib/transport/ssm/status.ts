/**
 * What an SSM command invocation's `Status` and `StatusDetails` mean for us. SSM reports the
 * cause of a terminal state in `StatusDetails` (`DeliveryTimedOut`, `ExecutionTimedOut`,
 * `Undeliverable`, …) while `Status` stays coarse (`TimedOut`, `Failed`), and the real service
 * has been seen answering `Failed` + `ExecutionTimedOut`; so the details decide first, then the
 * status. The documentation spells details with spaces ("Delivery Timed Out") and the wire
 * without; both are accepted.
 */
import type { ErrorCode } from '../../errors.ts';

export type InvocationVerdict =
  /** Not final yet: keep polling. */
  | { kind: 'waiting' }
  /** The program ran to its end (exit code zero or not): read its output. */
  | { kind: 'ran' }
  /** The program could not be run or followed to its end. */
  | { kind: 'error'; code: ErrorCode; reason: string };

const WAITING = new Set(['pending', 'inprogress', 'delayed', 'cancelling', 'canceling']);

const ERRORS: Record<string, { code: ErrorCode; reason: string }> = {
  deliverytimedout: {
    code: 'UNREACHABLE',
    reason: 'the command was not delivered before its delivery timeout',
  },
  undeliverable: {
    code: 'UNREACHABLE',
    reason: 'the command cannot be delivered (no such node, or its agent is offline)',
  },
  terminated: {
    code: 'UNREACHABLE',
    reason: 'SSM terminated the invocation before it ran (MaxErrors reached)',
  },
  invalidplatform: {
    code: 'UNREACHABLE',
    reason: 'the node cannot run AWS-RunShellScript (not Linux or macOS)',
  },
  accessdenied: {
    code: 'AUTH_FAILED',
    reason: 'the node was denied running the command (IAM / agent permissions)',
  },
  executiontimedout: { code: 'TRANSPORT_TIMEOUT', reason: 'the program ran past its execution timeout' },
  timedout: { code: 'TRANSPORT_TIMEOUT', reason: 'the invocation timed out' },
  cancelled: { code: 'TRANSPORT_TIMEOUT', reason: 'the invocation was cancelled' },
  canceled: { code: 'TRANSPORT_TIMEOUT', reason: 'the invocation was cancelled' },
};

function normalise(value: string | undefined): string {
  return (value ?? '').replace(/[\s_-]+/g, '').toLowerCase();
}

/** Decides from an invocation's `Status` and `StatusDetails` whether to wait, read its output, or fail. */
export function judgeInvocation(
  status: string | undefined,
  statusDetails: string | undefined,
): InvocationVerdict {
  const details = normalise(statusDetails);
  const coarse = normalise(status);
  // TimedOut says nothing on its own: the details tell delivery from execution.
  const specific = ERRORS[details];
  if (specific && details !== 'timedout') return { kind: 'error', ...specific };
  if (WAITING.has(coarse)) return { kind: 'waiting' };
  if (coarse === 'success' || coarse === 'failed') return { kind: 'ran' };
  const general = ERRORS[coarse];
  if (general) return { kind: 'error', ...general };
  // A status this code does not know yet is not treated as final: the caller's deadline bounds the wait.
  return { kind: 'waiting' };
}

/** True once an invocation will not change any more (its output, if any, can be read). */
export function isFinal(status: string | undefined, statusDetails: string | undefined): boolean {
  return judgeInvocation(status, statusDetails).kind !== 'waiting';
}
