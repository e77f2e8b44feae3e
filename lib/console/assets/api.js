/**
 * The console's only way to the fleet: SPEC 7.1's public routes, relative to the page (so a
 * stage prefix in front of both still works), JSON in and out. A failure is an `ApiError` with
 * SPEC 2.6's `code`, `message` and `details`, whatever produced it: the API itself, a gateway
 * in front of it (`{ "message": "Forbidden" }`), or the network.
 *
 * In the cloud the HTTP API wants a JWT (see the README's "Fleet console"): when the operator has
 * pasted one, it goes along as `Authorization: Bearer …`. It is kept in sessionStorage only, so
 * it ends with the tab.
 */

const TOKEN_KEY = 'cloudiq-console-token';
const REQUEST_TIMEOUT_MS = 30_000;

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** @returns {string} */
export function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

/** @param {string} token */
export function saveToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * One request. `path` has no leading slash (`servers`, `fleet/upgrade`): relative to the page.
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [options]
 * @returns {Promise<any>}
 */
export async function request(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const token = readToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(new URL(path, document.baseURI), {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    throw new ApiError(
      0,
      timedOut ? 'TIMEOUT' : 'NETWORK',
      timedOut
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : `the API could not be reached (${String(error)})`,
    );
  }
  const text = await response.text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return body;
  if (body && typeof body.code === 'string' && typeof body.message === 'string') {
    throw new ApiError(response.status, body.code, body.message, body.details ?? {});
  }
  const message =
    body && typeof body.message === 'string' ? body.message : text.slice(0, 200) || response.statusText;
  throw new ApiError(response.status, `HTTP_${response.status}`, message);
}

/**
 * Path segments are names the API validated; encode them anyway.
 * @param {...string} segments
 */
export function path(...segments) {
  return segments.map((segment) => encodeURIComponent(segment)).join('/');
}
