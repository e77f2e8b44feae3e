/**
 * How long to wait before the next delivery attempt: exponential backoff with full jitter, or
 * what the receiver asked for with `Retry-After`.
 */

export interface BackoffSettings {
  /** Upper bound of the first wait; doubles on each retry. */
  baseMs: number;
  /** No jittered wait is drawn from a range wider than this. */
  maxMs: number;
  /** A `Retry-After` longer than this is shortened to it, so one receiver cannot hold a run for hours. */
  retryAfterMaxMs: number;
  random: () => number;
}

/** Full jitter (a uniform draw in [0, min(max, base·2^(n-1))]) before retry number `retry` (1-based). */
export function backoffDelay(retry: number, settings: BackoffSettings): number {
  const ceiling = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, retry - 1));
  const draw = Math.min(1, Math.max(0, settings.random()));
  return Math.floor(draw * ceiling);
}

/**
 * The wait a `Retry-After` value asks for, in milliseconds from `nowMs`: delta-seconds or an HTTP
 * date; `undefined` when absent or unreadable (the caller then uses its own backoff).
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  // Only the date forms HTTP allows: `Date.parse` alone would accept "1" or "2024".
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - nowMs);
}

/** The wait before retry number `retry`: the receiver's `Retry-After` (capped) when it gave one. */
export function retryDelay(
  retry: number,
  retryAfter: string | undefined,
  nowMs: number,
  settings: BackoffSettings,
): number {
  const asked = parseRetryAfter(retryAfter, nowMs);
  if (asked !== undefined) return Math.min(asked, settings.retryAfterMaxMs);
  return backoffDelay(retry, settings);
}
