/**
 * The routes of SPEC 7.1 about servers that are no single command: the inventory, and both
 * heartbeats from one read. (Each command's own routes are its row's: command-routes.ts.)
 */
import { runHeartbeat } from '../operations/index.ts';
import { param, type Route, type RouteContext, runOptions } from './context.ts';
import { jsonResult, readQuery } from './http.ts';

/** `GET /servers`: `{ servers: [{ name, groups, transport }] }` in inventory order. */
async function listServers(context: RouteContext) {
  readQuery(context.event, []);
  return jsonResult(200, { servers: context.deps.fleet.servers() });
}

/**
 * `GET /servers/{server}/heartbeat`: `{ server, heartbeat, appstack }` — heartbeat.get and
 * heartbeat.appstack from one read of the host, side by side (merged, their `products` would
 * collide).
 */
async function heartbeat(context: RouteContext) {
  readQuery(context.event, []);
  const host = context.deps.fleet.target(param(context, 'server'));
  const answer = await runHeartbeat(host, runOptions(context));
  return jsonResult(200, { server: host.name, ...answer });
}

export const serverRoutes: Route[] = [
  { method: 'GET', path: '/servers', handle: listServers },
  { method: 'GET', path: '/servers/{server}/heartbeat', handle: heartbeat },
];
