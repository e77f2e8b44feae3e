/**
 * The quick routes of SPEC 7.1: each is one bootstrap command on one host, answered with SPEC
 * 2.5.1's JSON and status 200.
 */
import { runCommand, runHeartbeat } from '../operations/index.ts';
import { param, type Route, type RouteContext, runOptions, waitLockFromQuery } from './context.ts';
import { jsonResult, readJsonBody, readQuery } from './http.ts';
import { configBodySchema, modeBodySchema, parseWith } from './params.ts';

const target = (context: RouteContext) => context.deps.fleet.target(param(context, 'server'));

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
  const host = target(context);
  const answer = await runHeartbeat(host, runOptions(context));
  return jsonResult(200, { server: host.name, ...answer });
}

async function getMode(context: RouteContext) {
  readQuery(context.event, []);
  return jsonResult(200, await runCommand(target(context), { command: 'server.mode' }, runOptions(context)));
}

/** `PUT /servers/{server}/mode` `{ mode, waitLockSeconds? }` → `{ mode }`. */
async function putMode(context: RouteContext) {
  const query = readQuery(context.event, ['waitLockSeconds']);
  const body = parseWith(modeBodySchema, readJsonBody(context.event), 'PUT mode');
  const waitLock = body.waitLockSeconds ?? waitLockFromQuery(query['waitLockSeconds']).waitLockSeconds;
  const answer = await runCommand(
    target(context),
    { command: 'server.mode', mode: body.mode },
    runOptions(context, waitLock === undefined ? {} : { waitLockSeconds: waitLock }),
  );
  return jsonResult(200, answer);
}

/** `GET /servers/{server}/products/{product}[?key=KEY]`: product.get P [K]. */
async function getProduct(context: RouteContext) {
  const query = readQuery(context.event, ['key']);
  const product = param(context, 'product');
  const request =
    query['key'] === undefined
      ? { command: 'product.get' as const, product }
      : { command: 'product.get' as const, product, key: query['key'] };
  return jsonResult(200, await runCommand(target(context), request, runOptions(context)));
}

/** `PATCH …/products/{product}/config` `{ KEY: VALUE, … }` → the product as product.get shows it after. */
async function patchConfig(context: RouteContext) {
  const query = readQuery(context.event, ['waitLockSeconds']);
  const values = parseWith(configBodySchema, readJsonBody(context.event), 'PATCH config');
  const answer = await runCommand(
    target(context),
    { command: 'product.set', product: param(context, 'product'), values },
    runOptions(context, waitLockFromQuery(query['waitLockSeconds'])),
  );
  return jsonResult(200, answer);
}

/** `GET /servers/{server}/operations/{operationId}`: the journal, running or final. */
async function getOperation(context: RouteContext) {
  readQuery(context.event, []);
  const answer = await runCommand(
    target(context),
    { command: 'operation.get', operationId: param(context, 'operationId') },
    runOptions(context),
  );
  return jsonResult(200, answer);
}

export const serverRoutes: Route[] = [
  { method: 'GET', path: '/servers', handle: listServers },
  { method: 'GET', path: '/servers/{server}/heartbeat', handle: heartbeat },
  { method: 'GET', path: '/servers/{server}/mode', handle: getMode },
  { method: 'PUT', path: '/servers/{server}/mode', handle: putMode },
  { method: 'GET', path: '/servers/{server}/products/{product}', handle: getProduct },
  { method: 'PATCH', path: '/servers/{server}/products/{product}/config', handle: patchConfig },
  { method: 'GET', path: '/servers/{server}/operations/{operationId}', handle: getOperation },
];
