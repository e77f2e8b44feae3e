/**
 * Delivery of an operation's aggregated result to its callback URL (SPEC 5): a signed JSON POST,
 * retried with backoff, through the SSRF guard. It never throws: the outcome says what happened.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { readCallbackEnvironment } from '../cloud/environment.ts';
import { BootstrapError } from '../errors.ts';
import { present } from '../optional.ts';
import { type BackoffSettings, retryDelay } from './backoff.ts';
import {
  type LookupAll,
  type ParsedCallbackUrl,
  parseCallbackUrl,
  resolveCallbackTarget,
  type ValidatedTarget,
} from './guard.ts';
import { AttemptTimeoutError, postOnce } from './post.ts';
import { SIGNATURE_HEADER, signCallbackBody } from './signature.ts';

export type { AddressCategory, ClassifiedAddress } from './address.ts';
export { classifyAddress } from './address.ts';
export type { LookupAll, ParsedCallbackUrl, ValidatedTarget } from './guard.ts';
export { checkCallbackTarget, parseCallbackUrl, resolveCallbackTarget } from './guard.ts';
export { SIGNATURE_HEADER, signCallbackBody, verifySignature } from './signature.ts';

/** What became of a callback; goes into the result as `callback`. */
export interface CallbackOutcome {
  delivered: boolean;
  /** Attempts that went to the network (0 when the guard refused the URL). */
  attempts: number;
  lastError?: string;
  /** The HTTP status of the last attempt, when it got one. */
  status?: number;
}

/** One structured log record; carries no secret, no signature, and no path or query of the URL. */
export interface CallbackLogRecord {
  event: 'callback.retry' | 'callback.delivered' | 'callback.failed' | 'callback.refused';
  operationId: string;
  /** Scheme, host and port of the callback URL. */
  target: string;
  attempts: number;
  status?: number;
  error?: string;
  retryInMs?: number;
}

export interface DeliverCallbackOptions {
  /** The package version, for `User-Agent: cloudiq-bootstrap/<version>`. */
  userAgentVersion: string;
  /** `CALLBACK_SECRET`: when set, each attempt carries a fresh `X-Bootstrap-Signature`. */
  secret?: string | undefined;
  /** `CALLBACK_ALLOW_PRIVATE`: private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, 64:ff9b:1::/48, fec0::/10) allowed. */
  allowPrivate?: boolean;
  /** Default 5. */
  maxAttempts?: number;
  /** Per attempt, default 10 000. */
  timeoutMs?: number;
  /** Backoff: first wait drawn from [0, base], doubling; defaults 1 000 and 30 000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Longest `Retry-After` honoured as such; longer ones are shortened to it. Default 30 000 ms. */
  retryAfterMaxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch, for signatures and `Retry-After` dates. */
  now?: () => number;
  random?: () => number;
  lookup?: LookupAll;
  logger?: (record: CallbackLogRecord) => void;
  /** Extra trusted CA certificates (PEM) for https receivers behind a private CA. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/** What is POSTed: any JSON result that carries its `operationId`. */
export interface CallbackPayload {
  operationId: string;
}

const defaultLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true });
const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AttemptTimeoutError(timeoutMs)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** The callback URL to use: the request's, else `[server] callback_url`; blank ones count as none. */
export function resolveCallbackUrl(
  requestUrl?: string | null,
  configUrl?: string | null,
): string | undefined {
  for (const candidate of [requestUrl, configUrl]) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate.trim();
  }
  return undefined;
}

/** Delivery options from the environment: `CALLBACK_SECRET` and `CALLBACK_ALLOW_PRIVATE`, read by lib/cloud/environment.ts. */
export function callbackOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  userAgentVersion: string,
): DeliverCallbackOptions {
  const { secret, allowPrivate } = readCallbackEnvironment(env);
  return { userAgentVersion, ...present({ secret }), allowPrivate };
}

/**
 * POSTs `result` to `url` as SPEC 5 says (signed, retried on network errors, timeouts, 5xx and
 * 429, never redirected, guarded against SSRF) and resolves with the outcome; never rejects.
 */
export async function deliverCallback(
  url: string,
  result: CallbackPayload,
  options: DeliverCallbackOptions,
): Promise<CallbackOutcome> {
  try {
    return await deliver(url, result, options);
  } catch (error) {
    // Only reachable through a broken injected function or an unserialisable result; the
    // operation's own outcome must not suffer from it either way.
    return { delivered: false, attempts: 0, lastError: `internal error: ${messageOf(error)}` };
  }
}

async function deliver(
  url: string,
  result: CallbackPayload,
  options: DeliverCallbackOptions,
): Promise<CallbackOutcome> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const lookup = options.lookup ?? defaultLookup;
  const log = (record: CallbackLogRecord): void => {
    try {
      options.logger?.(record);
    } catch {
      // A failing logger must not turn a delivered callback into a failed one.
    }
  };
  const allowPrivate = options.allowPrivate === true;
  const backoff: BackoffSettings = {
    baseMs: options.backoffBaseMs ?? 1_000,
    maxMs: options.backoffMaxMs ?? 30_000,
    retryAfterMaxMs: options.retryAfterMaxMs ?? 30_000,
    random: options.random ?? Math.random,
  };
  const operationId = String(result.operationId);

  let parsed: ParsedCallbackUrl;
  try {
    parsed = parseCallbackUrl(url, { allowPrivate });
  } catch (error) {
    const lastError = messageOf(error);
    log({ event: 'callback.refused', operationId, target: originOf(url), attempts: 0, error: lastError });
    return { delivered: false, attempts: 0, lastError };
  }
  const target = parsed.url.origin;
  const body = JSON.stringify(result);
  let validated: ValidatedTarget | undefined;
  let attempts = 0;
  let lastError = 'not attempted';
  let status: number | undefined;

  while (attempts < maxAttempts) {
    attempts += 1;
    status = undefined;
    let retryAfter: string | undefined;
    try {
      // Resolved once per delivery: every later attempt goes to the same validated address.
      validated ??= await withDeadline(resolveCallbackTarget(parsed, lookup, { allowPrivate }), timeoutMs);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': `cloudiq-bootstrap/${options.userAgentVersion}`,
        'Idempotency-Key': operationId,
      };
      if (options.secret !== undefined && options.secret !== '') {
        headers[SIGNATURE_HEADER] = signCallbackBody(body, options.secret, now() / 1000);
      }
      const answer = await postOnce(validated, body, headers, {
        timeoutMs,
        ...present({ ca: options.ca }),
      });
      status = answer.status;
      if (status >= 200 && status < 300) {
        log({ event: 'callback.delivered', operationId, target, attempts, status });
        return { delivered: true, attempts, status };
      }
      lastError =
        status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
      if (status < 500 && status !== 429) break;
      const header = answer.headers['retry-after'];
      retryAfter = Array.isArray(header) ? header[0] : header;
    } catch (error) {
      if (error instanceof BootstrapError) {
        // The guard refused what the name resolved to: nothing was sent, and nothing will be.
        attempts -= 1;
        lastError = error.message;
        log({ event: 'callback.refused', operationId, target, attempts, error: lastError });
        return { delivered: false, attempts, lastError };
      }
      lastError = messageOf(error);
    }
    if (attempts >= maxAttempts) break;
    const retryInMs = retryDelay(attempts, retryAfter, now(), backoff);
    log({
      event: 'callback.retry',
      operationId,
      target,
      attempts,
      ...present({ status }),
      error: lastError,
      retryInMs,
    });
    await sleep(retryInMs);
  }
  log({ event: 'callback.failed', operationId, target, attempts, ...present({ status }), error: lastError });
  return { delivered: false, attempts, lastError, ...present({ status }) };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}
