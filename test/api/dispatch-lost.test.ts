// SPEC 5 and 7.1: a provision or upgrade whose run could not be started — StartExecution (here the
// in-process driver behind a dispatch that fails once) failed after the host operation began —
// is followed once the client retries with the same operation id: the retry dispatches again,
// the callback is POSTed once, and later repeats POST nothing more (SPEC 5 v2: "delivered at
// most once after a 2xx, whatever is retried").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import type { RunJob } from '../../lib/fleet/job.ts';
import type { CallbackReceiver } from '../support/callback-receiver.ts';
import { type ApiFixture, block, release, useApiWithReceiver } from './fixture.ts';

describe('a long operation whose dispatch was lost', () => {
  let api: ApiFixture;
  let receiver: CallbackReceiver;
  useApiWithReceiver((started) => {
    ({ api, receiver } = started);
  });

  /** The fixture's API, over a dispatch that fails its next `failures` calls as StartExecution may. */
  const flakyApi = (failures: number) => {
    const dispatched: RunJob[] = [];
    let left = failures;
    const handler = createApiHandler({
      fleet: api.fleet,
      runStore: api.store,
      dispatch: async (job) => {
        dispatched.push(job);
        if (left > 0) {
          left -= 1;
          throw new Error('StartExecution: ServiceUnavailable');
        }
        await api.worker.dispatch(job);
      },
    });
    const post = async (url: string, body: unknown, key: string) => {
      const answer = await handler(
        buildHttpEvent({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(body),
        }),
      );
      return { status: answer.statusCode, body: JSON.parse(answer.body), headers: answer.headers };
    };
    return { post, dispatched };
  };

  it('upgrade: the retry after the operation ended dispatches again and the callback comes once', async () => {
    const { post, dispatched } = flakyApi(1);
    const url = '/servers/web-2/products/deepfiler/upgrade';
    const body = { version: '3.2.1', callbackUrl: `${receiver.url}/hooks/lost-upgrade` };
    const first = await post(url, body, 'op_lost_upgrade_1');
    assert.equal(first.status, 500, JSON.stringify(first.body));
    assert.equal(first.body.code, 'INTERNAL');
    // The host operation began before the dispatch failed: it runs, and ends, unfollowed.
    const journal = await api.poll('/servers/web-2/operations/op_lost_upgrade_1');
    assert.equal(journal.body.status, 'succeeded', JSON.stringify(journal.body));
    await api.worker.idle();
    const posted = () => receiver.requests.filter((r) => r.path === '/hooks/lost-upgrade');
    assert.equal(posted().length, 0, 'nothing follows the operation yet');

    const retry = await post(url, body, 'op_lost_upgrade_1');
    assert.equal(retry.status, 202, JSON.stringify(retry.body));
    assert.deepEqual(retry.body, { operationId: 'op_lost_upgrade_1' });
    assert.equal(retry.headers['location'], '/servers/web-2/operations/op_lost_upgrade_1');
    await api.worker.idle();
    assert.equal(dispatched.length, 2, 'the retry dispatched again');
    assert.equal(posted().length, 1, 'the callback came once the retry was dispatched');
    const result = JSON.parse(posted()[0]!.body);
    assert.equal(posted()[0]!.signatureValid, true);
    assert.equal(posted()[0]!.headers['idempotency-key'], 'op_lost_upgrade_1');
    assert.equal(result.operationId, 'op_lost_upgrade_1');
    assert.equal(result.command, 'product.upgrade');
    assert.deepEqual(result.args, { product: 'deepfiler', version: '3.2.1' });
    assert.equal(result.status, 'succeeded');

    // Further repeats dispatch again, and the dispatch (idempotent by operation id) starts nothing.
    for (let i = 0; i < 3; i++) assert.equal((await post(url, body, 'op_lost_upgrade_1')).status, 202);
    await api.worker.idle();
    assert.equal(dispatched.length, 5);
    assert.equal(posted().length, 1, 'no second callback');
  });

  it('provision: retries while it runs are followed by one run, and the callback comes once at its end', async () => {
    const web1 = api.sandboxes['web-1'];
    block(web1, 'deepfiler', 'provision');
    const { post } = flakyApi(1);
    const url = '/servers/web-1/provision';
    const body = { role: 'edge', callbackUrl: `${receiver.url}/hooks/lost-provision` };
    assert.equal((await post(url, body, 'op_lost_provision_1')).status, 500);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => post(url, body, 'op_lost_provision_1')),
    );
    for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal(api.worker.running(), 1, 'one run follows the operation');
    const running = await api.call('GET', '/servers/web-1/operations/op_lost_provision_1');
    assert.equal(running.body.status, 'running');
    release(web1);
    const journal = await api.poll('/servers/web-1/operations/op_lost_provision_1');
    assert.equal(journal.body.status, 'succeeded', JSON.stringify(journal.body));
    await api.worker.idle();
    const posted = receiver.requests.filter((r) => r.path === '/hooks/lost-provision');
    assert.equal(posted.length, 1);
    const result = JSON.parse(posted[0]!.body);
    assert.equal(result.command, 'server.provision');
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.targets[0].result, journal.body);
  });
});
