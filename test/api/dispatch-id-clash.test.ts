// SPEC 7.1: "The same operationId sent again answers with the same operation, never a second
// run." One id used by one server's operation and then by a fleet run (or the other way round) is
// refused — INVALID_REQUEST, as the same id with other arguments is — before anything starts or
// is recorded, and the operation the id already names keeps its one callback.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallbackReceiver } from '../support/callback-receiver.ts';
import { type ApiFixture, assertError, useApiWithReceiver } from './fixture.ts';

describe('one operation id, a server operation and a fleet run', () => {
  let api: ApiFixture;
  let receiver: CallbackReceiver;
  useApiWithReceiver((started) => {
    ({ api, receiver } = started);
  });

  const version = async (server: string) =>
    (await api.call('GET', `/servers/${server}/products/deepfiler`)).body.state.version;

  it('a fleet upgrade under the id of a server operation is refused; nothing starts', async () => {
    const id = 'op_shared_1';
    const provision = await api.call('POST', '/servers/web-1/provision', {
      body: { role: 'edge', callbackUrl: `${receiver.url}/hooks/server` },
      headers: { 'idempotency-key': id },
    });
    assert.equal(provision.status, 202);
    assert.equal((await api.poll(provision.headers['location']!)).body.status, 'succeeded');
    await api.worker.idle();
    const before = { web1: await version('web-1'), web2: await version('web-2') };

    const fleet = await api.call('POST', '/fleet/upgrade', {
      body: {
        select: 'web-1,web-2',
        product: 'deepfiler',
        version: '9.9.9',
        canary: 0,
        healthGate: false,
        callbackUrl: `${receiver.url}/hooks/fleet`,
        operationId: id,
      },
    });
    assertError(fleet, 400, 'INVALID_REQUEST');
    assert.equal(fleet.body.details.operationId, id);
    assert.equal(fleet.body.details.existing.command, 'server.provision');
    assert.equal(api.worker.running(), 0, 'no run was started');
    assertError(await api.call('GET', `/fleet/operations/${id}`), 400, 'INVALID_REQUEST');
    assertError(await api.call('GET', `/servers/web-2/operations/${id}`), 400, 'INVALID_REQUEST');
    await api.worker.idle();
    assert.deepEqual({ web1: await version('web-1'), web2: await version('web-2') }, before);
    assert.deepEqual(
      receiver.requests.map((r) => r.path),
      ['/hooks/server'],
    );

    // The server operation's own repeat still answers it.
    const again = await api.call('POST', '/servers/web-1/provision', {
      body: { role: 'edge', callbackUrl: `${receiver.url}/hooks/server` },
      headers: { 'idempotency-key': id },
    });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    await api.worker.idle();
    assert.equal(receiver.requests.length, 1);
  });

  it("a server operation under a fleet run's id is refused, on a host of its selection or not", async () => {
    const id = 'op_shared_2';
    const fleet = await api.call('POST', '/fleet/upgrade', {
      body: { select: 'web-1', product: 'deepfiler', version: '7.0.0', canary: 0, healthGate: false },
      headers: { 'idempotency-key': id },
    });
    assert.equal(fleet.status, 202);
    assert.equal((await api.poll(`/fleet/operations/${id}`)).body.status, 'succeeded');
    await api.worker.idle();
    const web2 = await version('web-2');

    for (const server of ['web-1', 'web-2']) {
      // The very command and arguments the fleet run gave its targets: still another operation.
      const upgrade = await api.call('POST', `/servers/${server}/products/deepfiler/upgrade`, {
        body: { version: '7.0.0', callbackUrl: `${receiver.url}/hooks/${server}` },
        headers: { 'idempotency-key': id },
      });
      assertError(upgrade, 400, 'INVALID_REQUEST');
      assert.equal(upgrade.body.details.operationId, id);
    }
    assertError(
      await api.call('POST', '/servers/web-2/provision', {
        body: { role: 'edge' },
        headers: { 'idempotency-key': id },
      }),
      400,
      'INVALID_REQUEST',
    );
    await api.worker.idle();
    assertError(await api.call('GET', `/servers/web-2/operations/${id}`), 400, 'INVALID_REQUEST');
    assert.equal(await version('web-2'), web2, 'nothing ran on web-2');
    assert.equal(api.worker.running(), 0);
    assert.equal(
      receiver.requests.filter((r) => r.path.startsWith('/hooks/web-')).length,
      0,
      'no callback for a refused request',
    );
  });
});
