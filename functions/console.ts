/**
 * The fleet console's page in the cloud (lib/console): API Gateway's two open routes, `GET /` and
 * `GET /console/{file}`, come here, and no other route does. The page's files are in this bundle;
 * the function reads no environment, builds no AWS client and touches no inventory, and its role
 * allows nothing but writing its own logs (infra/stack.ts). The page then reads the fleet through
 * SPEC 7.1's routes, which go to the API function behind the authorizer.
 */
import {
  errorResult,
  type HttpResult,
  httpEventSchema,
  noRouteResult,
  stagePrefix,
} from '../lib/api/http.ts';
import { findPage } from '../lib/console/find-page.ts';
import { BootstrapError } from '../lib/errors.ts';

/** Lambda entry point: the page's file, or SPEC 2.6's 404 or 405 as the API answers them. */
export async function handler(event: unknown): Promise<HttpResult> {
  const parsed = httpEventSchema.safeParse(event);
  if (!parsed.success) {
    return errorResult(new BootstrapError('INVALID_REQUEST', 'not an API Gateway payload 2.0 event'));
  }
  const request = parsed.data;
  const path = request.rawPath.slice(stagePrefix(request).length) || '/';
  const method = request.requestContext.http.method.toUpperCase();
  const page = findPage(path);
  if (page === undefined) return noRouteResult(method, path);
  if (method !== page.method) return noRouteResult(method, path, [page.method]);
  return page.handle();
}
