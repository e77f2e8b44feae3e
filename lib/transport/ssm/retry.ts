/**
 * Backoff, jitter and the classification of SSM API errors. The SDK's own retries (use
 * `retryMode: 'adaptive'` on the client: it retries throttling and transient errors and
 * rate-limits the client when SSM throttles) come first; what still escapes them is judged
 * here: throttling slows us down, anything else either names the target's problem or is ours.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorCode } from '../../errors.ts';

export interface BackoffOptions {
  /** First wait, in ms. */
  initialMs: number;
  /** Longest wait without throttling, in ms. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Source of jitter in [0, 1); `Math.random` unless a test pins it. */
  random: () => number;
}

/** Exponential backoff with "equal jitter", stretched while SSM throttles us. */
export class Backoff {
  private attempt = 0;
  private throttle = 1;

  constructor(private readonly options: BackoffOptions) {}

  /** The next wait in ms. */
  next(): number {
    const { initialMs, maxMs, factor, random } = this.options;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt) * this.throttle;
    this.attempt += 1;
    return base / 2 + (random() * base) / 2;
  }

  /** SSM said slow down: waits double, up to 16 times the normal ceiling. */
  throttled(): void {
    this.throttle = Math.min(16, this.throttle * 2);
  }

  /** A call went through: throttling pressure eases. */
  succeeded(): void {
    this.throttle = Math.max(1, this.throttle / 2);
  }

  /** Waits `next()` ms, or rejects when `signal` aborts. */
  async wait(signal?: AbortSignal): Promise<void> {
    await sleep(this.next(), undefined, signal ? { signal } : undefined);
  }
}

/** The name SSM gave an error (`__type`), as the SDK exposes it. */
export function awsErrorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : 'Error';
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyUpdates',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RateExceeded',
]);

/** SSM asked us to slow down: never a failure of the target. */
export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(awsErrorName(error));
}

const AUTH = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);

/** Our own malformed request: a bug here, not the target's fault. */
const OURS = new Set(['ValidationException', 'InvalidParameters', 'InvalidDocument', 'InvalidOutputFolder']);

/** The error code for an SSM API call that failed after the SDK's retries. */
export function codeForAwsError(error: unknown): ErrorCode {
  if (notSsmAnswer(error)) return 'UNREACHABLE';
  const name = awsErrorName(error);
  if (AUTH.has(name)) return 'AUTH_FAILED';
  if (OURS.has(name)) return 'INTERNAL';
  // InvalidInstanceId, unreachable endpoint, 5xx after retries: the target cannot be reached.
  return 'UNREACHABLE';
}

/** What answered instead of SSM, when the SDK could not read the answer as SSM's JSON. */
export interface NotSsmAnswer {
  httpStatus: number | null;
  contentType: string | null;
  /** The parser's complaint, first line (`Unexpected token '<', "<html>"... is not valid JSON`). */
  parser: string;
}

/**
 * An SDK "Deserialization error": something other than SSM answered (a proxy's or a portal's
 * HTML page, a wrong endpoint URL). Asking again gets the same page, so it is never retried.
 */
export function notSsmAnswer(error: unknown): NotSsmAnswer | undefined {
  if (!(error instanceof Error)) return undefined;
  const sdk = error as Error & {
    $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
    $metadata?: { httpStatusCode?: number };
  };
  if (!/Deserialization error/.test(error.message) && !(error.name === 'SyntaxError' && sdk.$response))
    return undefined;
  const headers = sdk.$response?.headers ?? {};
  const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  return {
    httpStatus: sdk.$response?.statusCode ?? sdk.$metadata?.httpStatusCode ?? null,
    contentType: contentType ?? null,
    parser: error.message.split('\n')[0]!.trim(),
  };
}
