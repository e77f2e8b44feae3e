/**
 * The HTTP side of the API, as API Gateway's HTTP API hands it to a function: payload format 2.0
 * events in, structured results out. Only the fields the API reads are validated; the rest of
 * an event (authorizer, cookies, stage variables) passes through untouched. No `aws-lambda`
 * types here: the schema below is the contract.
 */
import * as z from 'zod';
import { nameRecord } from '../config/records.ts';
import { BootstrapError, type ErrorBody, errorBody, httpStatusFor } from '../errors.ts';
import { present } from '../optional.ts';

/** What the API reads of a payload 2.0 event. HTTP APIs hand `rawPath` over already percent-decoded. */
export const httpEventSchema = z.looseObject({
  version: z.literal('2.0'),
  rawPath: z.string().startsWith('/'),
  rawQueryString: z.string().default(''),
  headers: z.record(z.string(), z.string()).default({}),
  requestContext: z.looseObject({
    http: z.looseObject({ method: z.string().min(1) }),
    requestId: z.string().optional(),
    stage: z.string().optional(),
  }),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
});

export type HttpEvent = z.infer<typeof httpEventSchema>;

/**
 * SPEC 7.1: a named stage's prefix in the path is not part of the route. An HTTP API's `$default`
 * stage adds none; a named one (`prod`) is the first segment of `rawPath`, and stays the first
 * segment of the `Location` an answer gives, so the client's next request reaches the same stage.
 * Here rather than in handler.ts so that the console's function (functions/console.ts) strips it
 * too without loading the API's route table.
 */
export function stagePrefix(event: HttpEvent): string {
  const stage = event.requestContext.stage;
  if (stage === undefined || stage === '' || stage === '$default') return '';
  const prefix = `/${stage}`;
  return event.rawPath === prefix || event.rawPath.startsWith(`${prefix}/`) ? prefix : '';
}

/** API Gateway's structured answer (`APIGatewayProxyStructuredResultV2`, the fields we use). */
export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** A JSON answer; `no-store` because every answer is a live reading of a host. */
export function jsonResult(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * SPEC 2.6's error shape, `{ code, message, details }`, with the status of its HTTP column.
 * `status` overrides it only where no operation was involved (an unknown route).
 */
export function errorResult(
  error: unknown,
  status?: number,
  headers: Record<string, string> = {},
): HttpResult {
  const body: ErrorBody = errorBody(error);
  return jsonResult(status ?? httpStatusFor(body.code), body, headers);
}

/**
 * The answer to a request no route takes: 404 for a path no route has (as API Gateway itself
 * answers a route it lacks), 405 with `Allow` for a method the path's routes do not take. The API
 * (handler.ts) and the console's function (functions/console.ts) answer alike.
 */
export function noRouteResult(method: string, path: string, allowed: readonly string[] = []): HttpResult {
  if (allowed.length === 0) {
    return errorResult(
      new BootstrapError('INVALID_REQUEST', `no route ${method} ${path}`, { reason: 'NO_ROUTE' }),
      404,
    );
  }
  return errorResult(
    new BootstrapError('INVALID_REQUEST', `${method} is not allowed on ${path}`, {
      reason: 'METHOD_NOT_ALLOWED',
      allowed: [...allowed],
    }),
    405,
    { allow: allowed.join(', ') },
  );
}

/** A header's value, whatever case the client (or a local server) used. */
export function headerOf(event: HttpEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The largest body the API reads; bigger ones are refused before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The request body as JSON (`undefined` when there is none); `INVALID_REQUEST` when too big or not JSON. */
export function readJsonBody(event: HttpEvent): unknown {
  if (event.body === undefined || event.body === '') return undefined;
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new BootstrapError('INVALID_REQUEST', `request body larger than ${MAX_BODY_BYTES} bytes`, {
      reason: 'BODY_TOO_LARGE',
      limit: MAX_BODY_BYTES,
      size: bytes.length,
    });
  }
  let text: string;
  let body: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    body = JSON.parse(text);
  } catch (error) {
    throw new BootstrapError('INVALID_REQUEST', 'request body is not valid JSON', {
      reason: 'BODY_NOT_JSON',
      error: error instanceof Error ? error.message : String(error),
    });
  }
  const repeated = repeatedKey(text);
  if (repeated !== undefined) {
    // JSON.parse keeps the last of them: `{"maxconn":"1","maxconn":"2"}` would set 2 unseen.
    throw new BootstrapError(
      'INVALID_REQUEST',
      `request body names ${JSON.stringify(repeated)} twice in one object`,
      {
        reason: 'DUPLICATE_KEY',
        key: repeated,
      },
    );
  }
  return body;
}

/**
 * The first key a JSON object of `text` (valid JSON) names twice, compared as decoded
 * (`"a"` and `"\u0061"` are one key); undefined when none does.
 */
function repeatedKey(text: string): string | undefined {
  const objects: Array<{ keys: Set<string>; expectKey: boolean } | null> = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    const top = objects.at(-1);
    if (c === '{') objects.push({ keys: new Set(), expectKey: true });
    else if (c === '[') objects.push(null);
    else if (c === '}' || c === ']') objects.pop();
    else if (c === ',' && top) top.expectKey = true;
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (top?.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = end;
    }
  }
  return undefined;
}

/** Query parameters: the `allowed` ones, each at most once; others are ignored (SPEC 7.1). */
export function readQuery(event: HttpEvent, allowed: readonly string[]): Record<string, string> {
  const query: Record<string, string> = nameRecord();
  for (const [name, value] of new URLSearchParams(event.rawQueryString)) {
    // SPEC 7.1: unknown query parameters are ignored (API Gateway's own samples carry some).
    if (!allowed.includes(name)) continue;
    if (Object.hasOwn(query, name))
      throw new BootstrapError('INVALID_REQUEST', `query parameter ${name} given twice`, { parameter: name });
    query[name] = value;
  }
  return query;
}

export interface BuildEventInput {
  method: string;
  /** Path and query as received (`/servers/web-1/products/haproxy?key=maxconn`), percent-encoded. */
  url: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: Buffer | string;
  sourceIp?: string;
  requestId?: string;
  now?: Date;
}

/**
 * A payload 2.0 event as API Gateway builds it from an HTTP request: headers lower-cased and
 * repeated ones joined with commas, `rawPath` decoded, the body as text when it is UTF-8 and
 * base64 otherwise. `serve` and the tests use it, so the handler sees what it sees in AWS.
 */
export function buildHttpEvent(input: BuildEventInput): HttpEvent {
  const now = input.now ?? new Date();
  const queryAt = input.url.indexOf('?');
  const encodedPath = queryAt === -1 ? input.url : input.url.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : input.url.slice(queryAt + 1);
  let rawPath: string;
  try {
    rawPath = decodeURIComponent(encodedPath);
  } catch {
    rawPath = encodedPath;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const bytes = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  let body: string | undefined;
  let isBase64Encoded = false;
  if (bytes !== undefined && bytes.length > 0) {
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) body = text;
    else {
      body = bytes.toString('base64');
      isBase64Encoded = true;
    }
  }
  const method = input.method.toUpperCase();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers['host'] ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: input.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId:
        input.requestId ?? `local-${now.getTime().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...present({ body }),
    isBase64Encoded,
  };
}
