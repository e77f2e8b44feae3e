// SPEC 2.1 and 5: `[server] callback_url` is "used when a request names none". Through the API a
// single server's long operation (provision, upgrade) calls back there once it ends, and so do
// the quick changes (`PUT …/mode`, `PATCH …/config`), as the CLI does for the same changes; a
// request's own `callbackUrl` wins. The hosts are real sandboxes, the runs the in-process driver
// `serve` uses, the callbacks a real receiver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ApiHandler, createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { createLocalRuns, type LocalRuns } from '../../lib/fleet/local-runs.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { type CallbackUrlHosts, startCallbackUrlHosts } from '../fleet/callback-url-hosts.ts';

describe('API: the host’s [server] callback_url when the request names none', () => {
  let hosts: CallbackUrlHosts;
  let worker: LocalRuns;
  let handler: ApiHandler;

  before(async () => {
    // cfg-1 names a callback_url; plain names none.
    hosts = await startCallbackUrlHosts();
    worker = createLocalRuns({
      fleet: hosts.fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      deliver: hosts.deliver,
      pollMs: 20,
    });
    handler = createApiHandler({
      fleet: hosts.fleet,
      dispatch: worker.dispatch,
      reserve: worker.reserve,
      callBack: async (url, result) => {
        await hosts.deliver(url, result);
      },
    });
  });
  after(async () => {
    await worker.idle();
    await hosts.close();
  });

  const call = async (method: string, url: string, body?: unknown) => {
    const result = await handler(
      buildHttpEvent({
        method,
        url,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
    return { status: result.statusCode, headers: result.headers, body: JSON.parse(result.body) };
  };
  const posted = (path: string) => hosts.receiver.requests.filter((request) => request.path === path);

  it('provision and upgrade of one server POST their result to callback_url once they end', async () => {
    const provision = await call('POST', '/servers/cfg-1/provision', {
      role: 'edge',
      operationId: 'cfg-prov-1',
    });
    assert.equal(provision.status, 202, JSON.stringify(provision.body));
    await worker.idle();
    const upgrade = await call('POST', '/servers/cfg-1/products/haproxy/upgrade', {
      version: '6.7',
      operationId: 'cfg-upg-1',
    });
    assert.equal(upgrade.status, 202, JSON.stringify(upgrade.body));
    await worker.idle();
    const bodies = posted('/configured').map((request) => JSON.parse(request.body));
    assert.deepEqual(
      bodies.map((body) => [body.operationId, body.command, body.status, body.targets[0].server]),
      [
        ['cfg-prov-1', 'server.provision', 'succeeded', 'cfg-1'],
        ['cfg-upg-1', 'product.upgrade', 'succeeded', 'cfg-1'],
      ],
    );
    assert.equal(bodies[1].targets[0].result.status, 'succeeded');
  });

  it('a request’s callbackUrl wins over callback_url; a host naming none gets no callback', async () => {
    const before = hosts.receiver.requests.length;
    const named = await call('POST', '/servers/cfg-1/products/deepfiler/upgrade', {
      version: '1.2.3',
      operationId: 'cfg-upg-2',
      callbackUrl: `${hosts.receiver.url}/named`,
    });
    assert.equal(named.status, 202);
    const none = await call('POST', '/servers/plain/provision', {
      role: 'edge',
      operationId: 'plain-prov-1',
    });
    assert.equal(none.status, 202);
    await worker.idle();
    assert.deepEqual(
      hosts.receiver.requests
        .slice(before)
        .map((request) => [request.path, JSON.parse(request.body).operationId]),
      [['/named', 'cfg-upg-2']],
    );
  });

  it('PUT …/mode and PATCH …/config call back to callback_url, as the CLI does', async () => {
    const before = posted('/configured').length;
    const mode = await call('PUT', '/servers/cfg-1/mode', { mode: 'drain' });
    assert.equal(mode.status, 200, JSON.stringify(mode.body));
    assert.deepEqual(mode.body, { mode: 'drain' });
    const patch = await call('PATCH', '/servers/cfg-1/products/haproxy/config', { maxconn: '512' });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    // A refused change is a failed target in the callback (the CLI sends it too), and still 422 here.
    const refused = await call('PUT', '/servers/cfg-1/mode', { mode: 'party' });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.code, 'INVALID_MODE');
    // A read calls back to no one, and neither does a host that names no callback_url.
    assert.equal((await call('GET', '/servers/cfg-1/mode')).status, 200);
    assert.equal((await call('PUT', '/servers/plain/mode', { mode: 'drain' })).status, 200);

    const bodies = posted('/configured')
      .slice(before)
      .map((request) => JSON.parse(request.body));
    assert.deepEqual(
      bodies.map((body) => [
        body.command,
        body.args,
        body.status,
        body.summary.total,
        body.targets[0].status,
      ]),
      [
        ['server.mode', { mode: 'drain' }, 'succeeded', 1, 'succeeded'],
        ['product.set', { product: 'haproxy', values: { maxconn: '512' } }, 'succeeded', 1, 'succeeded'],
        ['server.mode', { mode: 'party' }, 'failed', 1, 'failed'],
      ],
    );
    assert.deepEqual(bodies[0].targets[0].result, { mode: 'drain' });
    assert.equal(bodies[1].targets[0].result.config.maxconn, '512');
    assert.equal(bodies[2].targets[0].error.code, 'INVALID_MODE');
    // The operation id the callback carries is the host's last_operation (as with the CLI).
    assert.match(bodies[0].operationId, /^op_/);
    assert.equal(
      hosts.receiver.requests.filter((request) => request.path !== '/configured' && request.path !== '/named')
        .length,
      0,
    );
  });
});
