/**
 * Matches a method and a path against SPEC 7.1's route templates (`/servers/{server}/mode`).
 * Routing is done here, on the event's own path, so the same handler serves API Gateway routes
 * declared one by one, a single `$default` route, and `serve`.
 */
import { type PathParam, pathParam } from './params.ts';

export interface RouteMatch<R> {
  route: R;
  params: Partial<Record<PathParam, string>>;
}

export type RouteLookup<R> =
  | { kind: 'found'; match: RouteMatch<R> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

export interface RouteTemplate {
  method: string;
  /** `/servers/{server}/products/{product}`: `{name}` is one path segment, validated as `name`. */
  path: string;
}

function segmentsOf(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.split('/').slice(1);
}

function matchPath(template: string, segments: readonly string[]): Map<PathParam, string> | undefined {
  const parts = segmentsOf(template);
  if (parts.length !== segments.length) return undefined;
  const params = new Map<PathParam, string>();
  for (const [index, part] of parts.entries()) {
    const segment = segments[index]!;
    if (part.startsWith('{') && part.endsWith('}')) params.set(part.slice(1, -1) as PathParam, segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

/**
 * Finds the route for `method` and `path`; its path parameters are validated (INVALID_REQUEST)
 * only once the route is known, so that a bad name is a 400 and a wrong path a 404.
 */
export function findRoute<R extends RouteTemplate>(
  routes: readonly R[],
  method: string,
  path: string,
): RouteLookup<R> {
  const segments = segmentsOf(path);
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (route.method !== method.toUpperCase()) {
      allowed.push(route.method);
      continue;
    }
    const checked: Partial<Record<PathParam, string>> = {};
    for (const [name, value] of params) checked[name] = pathParam(name, value);
    return { kind: 'found', match: { route, params: checked } };
  }
  return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
}
