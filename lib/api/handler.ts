/**
 * The HTTP API of SPEC 7.1 as one function from a payload 2.0 event to a structured result,
 * knowing nothing of Lambda or of sockets: `functions/api.ts` and `serve` both call it.
 */
import { BootstrapError } from '../errors.ts';
import { present } from '../optional.ts';
import type { ApiDeps, Route } from './context.ts';
import {
  errorResult,
  type HttpEvent,
  type HttpResult,
  httpEventSchema,
  noRouteResult,
  stagePrefix,
} from './http.ts';
import { findRoute } from './router.ts';
import { apiRoutes } from './routes.ts';

export type { ApiDeps } from './context.ts';

/**
 * Every route of SPEC 7.1 (and `GET /fleet/operations/{id}`): what the API function answers.
 * `serve` brings the console's page beside them (local-routes.ts).
 */
export const ROUTES: readonly Route[] = apiRoutes();

/** One line per request: what was asked and how it ended (no body, no header values). */
export interface ApiLogRecord {
  requestId: string | undefined;
  method: string;
  path: string;
  status: number;
  code?: string;
  durationMs: number;
}

export interface ApiHandlerOptions {
  log?: (record: ApiLogRecord) => void;
  now?: () => number;
  /** The routes to answer (`ROUTES` unless a test brings its own table's). */
  routes?: readonly Route[];
}

export type ApiHandler = (event: unknown) => Promise<HttpResult>;

/** Builds the API handler over its dependencies (fleet, dispatch, store). */
export function createApiHandler(deps: ApiDeps, options: ApiHandlerOptions = {}): ApiHandler {
  const now = options.now ?? Date.now;
  const routes = options.routes ?? ROUTES;
  return async (raw) => {
    const started = now();
    const parsed = httpEventSchema.safeParse(raw);
    if (!parsed.success) {
      const result = errorResult(
        new BootstrapError('INVALID_REQUEST', 'not an API Gateway payload 2.0 event', {
          issues: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
        }),
      );
      options.log?.({
        requestId: undefined,
        method: '?',
        path: '?',
        status: result.statusCode,
        code: 'INVALID_REQUEST',
        durationMs: now() - started,
      });
      return result;
    }
    const event = parsed.data;
    const result = await answer(deps, routes, event);
    const code = result.statusCode >= 400 ? codeOf(result) : undefined;
    options.log?.({
      requestId: event.requestContext.requestId,
      method: event.requestContext.http.method,
      path: event.rawPath,
      status: result.statusCode,
      ...present({ code }),
      durationMs: now() - started,
    });
    return result;
  };
}

async function answer(deps: ApiDeps, routes: readonly Route[], event: HttpEvent): Promise<HttpResult> {
  const prefix = stagePrefix(event);
  if (prefix === '') return route(deps, routes, event);
  const result = await route(deps, routes, { ...event, rawPath: event.rawPath.slice(prefix.length) || '/' });
  const location = result.headers['location'];
  if (location?.startsWith('/')) result.headers['location'] = `${prefix}${location}`;
  return result;
}

async function route(deps: ApiDeps, routes: readonly Route[], event: HttpEvent): Promise<HttpResult> {
  const method = event.requestContext.http.method.toUpperCase();
  try {
    const lookup = findRoute(routes, method, event.rawPath);
    if (lookup.kind === 'not-found') return noRouteResult(method, event.rawPath);
    if (lookup.kind === 'method-not-allowed') return noRouteResult(method, event.rawPath, lookup.allowed);
    const signal = AbortSignal.timeout(deps.requestTimeoutMs ?? 25_000);
    return await lookup.match.route.handle({ deps, event, params: lookup.match.params, signal });
  } catch (error) {
    return errorResult(error);
  }
}

function codeOf(result: HttpResult): string | undefined {
  try {
    const body = JSON.parse(result.body) as { code?: unknown };
    return typeof body.code === 'string' ? body.code : undefined;
  } catch {
    return undefined;
  }
}
