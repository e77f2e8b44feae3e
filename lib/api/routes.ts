/**
 * The API's one route table. A command's routes are its row's in the command table
 * (lib/operations/registry.ts); the routes that are no command — the inventory, the heartbeat,
 * the fleet's runs — are listed once, in their own files, and joined here. The handler routes on
 * it, and infra declares API Gateway's routes from `API_ROUTE_KEYS`. The fleet console's page is
 * not here: in the cloud its own function answers it, and `serve` adds it (local-routes.ts), so
 * the API function's bundle carries none of the page.
 */
import type { CommandTable } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import { commandRoutes } from './command-routes.ts';
import type { Route } from './context.ts';
import { fleetRoutes } from './long-routes.ts';
import type { RouteTemplate } from './router.ts';
import { serverRoutes } from './server-routes.ts';

/** SPEC 7.1's routes (and `GET /fleet/operations/{id}`) for the commands of `table`. */
export function apiRoutes(table: CommandTable = COMMAND_TABLE): Route[] {
  return [...serverRoutes, ...commandRoutes(table), ...fleetRoutes];
}

/** The API's routes as API Gateway route keys (method and path), under the API's authorizer. */
export const API_ROUTE_KEYS: readonly RouteTemplate[] = apiRoutes().map(({ method, path }) => ({
  method,
  path,
}));
