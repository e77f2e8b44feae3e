// SPEC 2.5 ("ROLE defaults to the role already recorded"; "passing an id that already has a
// journal returns that journal") and 7.1 ("the same operationId sent again answers with the same
// operation") through the API handler and its in-process driver, as `serve` runs them: a
// provision repeated under its id without a role answers that operation, as the CLI does; one
// naming the journal's role does too; another role is refused, naming what differs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallbackReceiver } from '../support/callback-receiver.ts';
import { type ApiFixture, assertError, useApiWithReceiver } from './fixture.ts';

describe('API: a provision repeated under its id', () => {
  let api: ApiFixture;
  let receiver: CallbackReceiver;
  useApiWithReceiver((started) => {
    ({ api, receiver } = started);
  });

  const provision = (body: object, id: string) =>
    api.call('POST', '/servers/web-1/provision', { body, headers: { 'idempotency-key': id } });

  it('without a role answers the same journal; naming the recorded role too; another role is refused', async () => {
    const first = await provision({ role: 'edge', callbackUrl: `${receiver.url}/hooks/p1` }, 'prov-again-1');
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const journal = await api.poll(first.headers['location']!);
    assert.equal(journal.body.status, 'succeeded', JSON.stringify(journal.body));

    const again = await provision({}, 'prov-again-1');
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.deepEqual(again.body, { operationId: 'prov-again-1' });
    assert.equal(again.headers['location'], first.headers['location']);
    assert.deepEqual((await api.poll(again.headers['location']!)).body, journal.body);

    // Without a role first (the recorded one, edge, is planned), then naming it.
    const bare = await provision({}, 'prov-again-2');
    assert.equal(bare.status, 202, JSON.stringify(bare.body));
    const planned = await api.poll(bare.headers['location']!);
    assert.deepEqual(planned.body.args, { role: 'edge' });
    const named = await provision({ role: 'edge' }, 'prov-again-2');
    assert.equal(named.status, 202, JSON.stringify(named.body));
    assert.deepEqual((await api.poll(named.headers['location']!)).body, planned.body);

    for (const id of ['prov-again-1', 'prov-again-2']) {
      const other = await provision({ role: 'worker' }, id);
      assertError(other, 400, 'INVALID_REQUEST');
      assert.match(other.body.message, new RegExp(`operation id ${id} is already used by another request`));
      assert.match(other.body.message, /role "edge", not "worker"/);
    }
    await api.worker.idle();
    assert.deepEqual(
      receiver.requests.map((r) => r.path),
      ['/hooks/p1'],
      'one callback: the repeats started nothing',
    );
  });
});
