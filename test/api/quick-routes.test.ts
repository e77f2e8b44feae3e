// The quick routes of SPEC 7.1 through the API handler, with payload 2.0 events as API Gateway
// builds them, against real sandbox hosts: each answer, and each error a route can give with
// the status of SPEC 2.6's HTTP column.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { type ApiFixture, assertError, block, createApiFixture, release } from './fixture.ts';

describe('API quick routes', () => {
  let api: ApiFixture;

  before(() => {
    api = createApiFixture();
  });
  after(() => api.close());

  it('GET /servers lists the inventory: names, groups, transport', async () => {
    const answer = await api.call('GET', '/servers');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      servers: [
        { name: 'web-1', groups: ['edge', 'eu'], transport: 'local' },
        { name: 'web-2', groups: ['edge', 'us'], transport: 'local' },
        { name: 'worker-1', groups: ['workers'], transport: 'local' },
        { name: 'ghost', groups: ['lost'], transport: 'local' },
        { name: 'broken', groups: ['lost'], transport: 'local' },
      ],
    });
    // SPEC 7.1: unknown query parameters are ignored.
    const ignored = await api.call('GET', '/servers?verbose=1');
    assert.equal(ignored.status, 200);
    assert.equal(ignored.body.servers.length, 5);
  });

  it('GET heartbeat: heartbeat.get and heartbeat.appstack side by side', async () => {
    api.sandboxes['web-1'].setHealthy('deepfiler', false);
    const answer = await api.call('GET', '/servers/web-1/heartbeat');
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body), ['server', 'heartbeat', 'appstack']);
    assert.equal(answer.body.server, 'web-1');
    assert.equal(answer.body.heartbeat.mode, 'maintenance');
    assert.deepEqual(answer.body.heartbeat.products.haproxy, { version: null, status: null });
    assert.equal(answer.body.heartbeat.lock, null);
    assert.equal(answer.body.appstack.status, 'degraded');
    assert.equal(answer.body.appstack.products.deepfiler.status, 'unhealthy');
    api.sandboxes['web-1'].setHealthy('deepfiler', true);

    assertError(await api.call('GET', '/servers/web-9/heartbeat'), 404, 'UNKNOWN_SERVER');
    // Dots are allowed in host names (SPEC 3.1 v2): web.1 is a name this inventory lacks.
    assertError(await api.call('GET', '/servers/web.1/heartbeat'), 404, 'UNKNOWN_SERVER');
    assertError(await api.call('GET', '/servers/web~1/heartbeat'), 400, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/servers/ghost/heartbeat'), 502, 'UNREACHABLE');
    assertError(await api.call('GET', '/servers/broken/heartbeat'), 424, 'CONFIG_ERROR');
  });

  it('GET and PUT mode', async () => {
    assert.deepEqual(await api.call('GET', '/servers/web-2/mode'), {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: { mode: 'maintenance' },
    });
    const put = await api.call('PUT', '/servers/web-2/mode', { body: { mode: 'drain' } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, { mode: 'drain' });
    assert.deepEqual((await api.call('GET', '/servers/web-2/mode')).body, { mode: 'drain' });

    assertError(
      await api.call('PUT', '/servers/web-2/mode', { body: { mode: 'party' } }),
      422,
      'INVALID_MODE',
    );
    assertError(
      await api.call('PUT', '/servers/web-2/mode', { body: { mode: 'BAD MODE' } }),
      400,
      'INVALID_REQUEST',
    );
    const unknownField = await api.call('PUT', '/servers/web-2/mode', {
      body: { mode: 'active', force: true },
    });
    assertError(unknownField, 400, 'INVALID_REQUEST');
    assert.match(unknownField.body.message, /force/);
    assertError(await api.call('PUT', '/servers/web-2/mode'), 400, 'INVALID_REQUEST');
    assertError(await api.call('PUT', '/servers/web-2/mode', { raw: '{"mode": ' }), 400, 'INVALID_REQUEST');
    assertError(await api.call('PUT', '/servers/web-2/mode', { body: ['drain'] }), 400, 'INVALID_REQUEST');
    assertError(
      await api.call('PUT', '/servers/web-2/mode', { body: { mode: 'active', waitLockSeconds: 600 } }),
      400,
      'INVALID_REQUEST',
    );
    assertError(
      await api.call('PUT', '/servers/nowhere/mode', { body: { mode: 'active' } }),
      404,
      'UNKNOWN_SERVER',
    );
    assertError(
      await api.call('PUT', '/servers/ghost/mode', { body: { mode: 'active' } }),
      502,
      'UNREACHABLE',
    );
    assertError(
      await api.call('PUT', '/servers/broken/mode', { body: { mode: 'active' } }),
      424,
      'CONFIG_ERROR',
    );
    assert.deepEqual(
      (await api.call('GET', '/servers/web-2/mode')).body,
      { mode: 'drain' },
      'nothing changed',
    );
  });

  it('refuses a body larger than 64 KiB before parsing it', async () => {
    const big = await api.call('PATCH', '/servers/web-2/products/haproxy/config', {
      body: { motd: 'x'.repeat(70 * 1024) },
    });
    assertError(big, 400, 'INVALID_REQUEST');
    assert.equal(big.body.details.reason, 'BODY_TOO_LARGE');
  });

  it('a mutating route on a locked server is LOCKED (409), and waitLockSeconds waits for it', async () => {
    const web1 = api.sandboxes['web-1'];
    block(web1, 'haproxy', 'provision');
    const started = await api.call('POST', '/servers/web-1/provision', { body: { role: 'edge' } });
    assert.equal(started.status, 202);
    const locked = await api.call('PUT', '/servers/web-1/mode', { body: { mode: 'drain' } });
    assertError(locked, 409, 'LOCKED');
    assert.equal(locked.body.details.operation, started.body.operationId);
    assertError(
      await api.call('PATCH', '/servers/web-1/products/haproxy/config', { body: { maxconn: '1' } }),
      409,
      'LOCKED',
    );
    assertError(
      await api.call('PATCH', '/servers/web-1/products/haproxy/config?waitLockSeconds=20', {
        body: { maxconn: '1' },
      }),
      400,
      'INVALID_REQUEST',
    );
    // Reads never wait for the lock, and report it.
    const beat = await api.call('GET', '/servers/web-1/heartbeat');
    assert.equal(beat.body.heartbeat.lock.operation, started.body.operationId);
    const waiting = api.call('PATCH', '/servers/web-1/products/haproxy/config?waitLockSeconds=10', {
      body: { maxconn: '2048' },
    });
    setTimeout(() => release(web1), 300);
    const patched = await waiting;
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.config.maxconn, '2048');
    const done = await api.poll(started.headers['location']!);
    assert.equal(done.body.status, 'succeeded');
  });

  it('GET product, whole or one key', async () => {
    const answer = await api.call('GET', '/servers/web-1/products/haproxy');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.product, 'haproxy');
    assert.equal(answer.body.config.maxconn, '2048');
    assert.equal(answer.body.state.status, 'provisioned');
    assert.deepEqual((await api.call('GET', '/servers/web-1/products/haproxy?key=maxconn')).body, {
      product: 'haproxy',
      key: 'maxconn',
      value: '2048',
    });
    assert.deepEqual((await api.call('GET', '/servers/web-1/products/haproxy?key=motd')).body, {
      product: 'haproxy',
      key: 'motd',
      value: null,
    });
    assertError(await api.call('GET', '/servers/web-1/products/redis'), 404, 'UNKNOWN_PRODUCT');
    assertError(await api.call('GET', '/servers/web-1/products/Redis!'), 400, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/servers/web-1/products/haproxy?key=bogus'), 422, 'INVALID_KEY');
    assertError(await api.call('GET', '/servers/web-1/products/haproxy?key=a&key=b'), 400, 'INVALID_REQUEST');
    const ignored = await api.call('GET', '/servers/web-1/products/haproxy?fields=all');
    assert.equal(ignored.status, 200, 'an unknown query parameter is ignored (SPEC 7.1)');
    assert.deepEqual(ignored.body, answer.body);
  });

  it('PATCH config sets all the pairs or none and answers the new config', async () => {
    const tricky = `;#= "quoted" $(touch /tmp/pwned) \`id\`  `;
    const answer = await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', {
      body: { threads: '8', 'log.level': tricky },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.config, { threads: '8', 'log.level': tricky });
    assert.equal(answer.body.product, 'deepfiler');
    assert.equal(
      (await api.call('GET', '/servers/worker-1/products/deepfiler?key=log.level')).body.value,
      tricky,
    );
    assert.equal(existsSync('/tmp/pwned'), false);

    assertError(
      await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', {
        body: { threads: '9', bogus: '1' },
      }),
      422,
      'INVALID_KEY',
    );
    assertError(
      await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', { body: { threads: 'a\nb' } }),
      422,
      'INVALID_VALUE',
    );
    assertError(
      await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', { body: { threads: 9 } }),
      400,
      'INVALID_REQUEST',
    );
    assertError(
      await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', { body: {} }),
      400,
      'INVALID_REQUEST',
    );
    // A key named twice (JSON.parse would keep the last), however it is written.
    for (const raw of ['{"threads":"1","threads":"2"}', '{"threads":"1","thr\\u0065ads":"2"}']) {
      const twice = await api.call('PATCH', '/servers/worker-1/products/deepfiler/config', { raw });
      assertError(twice, 400, 'INVALID_REQUEST');
      assert.equal(twice.body.details.reason, 'DUPLICATE_KEY');
      assert.equal(twice.body.details.key, 'threads');
    }
    assertError(
      await api.call('PATCH', '/servers/worker-1/products/nope/config', { body: { a: '1' } }),
      404,
      'UNKNOWN_PRODUCT',
    );
    assert.deepEqual(
      (await api.call('GET', '/servers/worker-1/products/deepfiler')).body.config,
      { threads: '8', 'log.level': tricky },
      'nothing changed by the refusals',
    );
  });

  it('GET an operation that does not exist, or with a bad id', async () => {
    assertError(await api.call('GET', '/servers/web-2/operations/op_NOPE'), 400, 'INVALID_REQUEST');
    // HTTP APIs decode the path before routing: an encoded slash makes another route, not a traversal.
    assertError(await api.call('GET', '/servers/web-2/operations/..%2F..%2Fetc'), 404, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/servers/web-2/operations/..'), 400, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/servers/web-2/operations/op%20x'), 400, 'INVALID_REQUEST');
  });

  it('unknown routes are 404, wrong methods 405 with Allow, non-events 400', async () => {
    assertError(await api.call('GET', '/nothing/here'), 404, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/servers/web-1'), 404, 'INVALID_REQUEST');
    const wrong = await api.call('DELETE', '/servers/web-1/mode');
    assertError(wrong, 405, 'INVALID_REQUEST');
    assert.equal(wrong.headers['allow'], 'GET, PUT');
    const notAnEvent = await api.handler({ httpMethod: 'GET', path: '/servers' });
    assert.equal(notAnEvent.statusCode, 400);
    assert.equal(JSON.parse(notAnEvent.body).code, 'INVALID_REQUEST');
    // Base64 bodies (API Gateway's choice for binary content types) are decoded.
    const event = buildHttpEvent({ method: 'PUT', url: '/servers/web-2/mode' });
    const encoded = await api.handler({
      ...event,
      body: Buffer.from('{"mode":"active"}').toString('base64'),
      isBase64Encoded: true,
    });
    assert.deepEqual(JSON.parse(encoded.body), { mode: 'active' });
  });
});
