// POST /fleet/upgrade through the API handler: 202 with a Location on the fleet run, polled until
// it ends, the journals on every host under the one operation id, one callback, idempotent
// repeats, unreachable hosts reported apart, and the refusals that come before anything runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import type { CallbackReceiver } from '../support/callback-receiver.ts';
import { type ApiFixture, assertError, block, release, useApiWithReceiver } from './fixture.ts';

describe('API fleet upgrade', () => {
  let api: ApiFixture;
  let receiver: CallbackReceiver;
  useApiWithReceiver((started) => {
    ({ api, receiver } = started);
  });

  it('runs the selection with canary and health gate, answers the run at its Location, calls back once', async () => {
    const body = { select: 'group:edge', product: 'deepfiler', version: '3.2.1', callbackUrl: receiver.url };
    const answer = await api.call('POST', '/fleet/upgrade', {
      body,
      headers: { 'idempotency-key': 'rollout-42' },
    });
    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { operationId: 'rollout-42' });
    assert.equal(answer.headers['location'], '/fleet/operations/rollout-42');

    const result = await api.poll('/fleet/operations/rollout-42');
    assert.equal(result.status, 200);
    assert.equal(result.body.operationId, 'rollout-42');
    assert.equal(result.body.command, 'product.upgrade');
    assert.deepEqual(result.body.args, { product: 'deepfiler', version: '3.2.1' });
    assert.equal(result.body.status, 'succeeded');
    assert.deepEqual(result.body.summary, { total: 2, succeeded: 2, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      result.body.targets.map((target: { server: string; status: string }) => [target.server, target.status]),
      [
        ['web-1', 'succeeded'],
        ['web-2', 'succeeded'],
      ],
    );
    assert.deepEqual(result.body.callback, { delivered: true, attempts: 1 });
    for (const server of ['web-1', 'web-2']) {
      const journal = await api.call('GET', `/servers/${server}/operations/rollout-42`);
      assert.equal(journal.body.status, 'succeeded');
      assert.deepEqual(journal.body.args, { product: 'deepfiler', version: '3.2.1' });
    }
    await api.worker.idle();
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0]!.signatureValid, true);
    const posted = JSON.parse(receiver.requests[0]!.body);
    assert.equal(posted.operationId, 'rollout-42');
    assert.deepEqual(posted.summary, result.body.summary);

    // A repeat is the same run: nothing starts again, no second callback.
    const again = await api.call('POST', '/fleet/upgrade', {
      body,
      headers: { 'idempotency-key': 'rollout-42' },
    });
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { operationId: 'rollout-42' });
    await api.worker.idle();
    assert.equal(receiver.requests.length, 1);
    assertError(
      await api.call('POST', '/fleet/upgrade', {
        body: { ...body, version: '3.2.2' },
        headers: { 'idempotency-key': 'rollout-42' },
      }),
      400,
      'INVALID_REQUEST',
    );
  });

  it('answers the run at its Location while it runs, with the targets finished so far', async () => {
    block(api.sandboxes['web-2'], 'haproxy', 'upgrade');
    const answer = await api.call('POST', '/fleet/upgrade', {
      body: { select: 'group:edge', product: 'haproxy', version: '3.1', canary: 0, maxConcurrency: 1 },
    });
    assert.equal(answer.status, 202);
    let running = await api.call('GET', answer.headers['location']!);
    for (let i = 0; i < 400 && (running.body.targets ?? []).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      running = await api.call('GET', answer.headers['location']!);
    }
    assert.equal(running.body.status, 'running');
    assert.deepEqual(
      running.body.targets.map((t: { server: string; status: string }) => [t.server, t.status]),
      [['web-1', 'succeeded']],
    );
    release(api.sandboxes['web-2']);
    const done = await api.poll(answer.headers['location']!);
    assert.equal(done.body.status, 'succeeded');
    assert.equal(done.body.targets.length, 2);
  });

  it('reports unreachable hosts apart from failed ones', async () => {
    const answer = await api.call('POST', '/fleet/upgrade', {
      body: { select: 'worker-1,ghost,broken', product: 'haproxy', version: '2.9', canary: 0, maxErrors: 1 },
    });
    assert.equal(answer.status, 202);
    const result = await api.poll(answer.headers['location']!);
    assert.equal(result.body.status, 'partial');
    assert.deepEqual(result.body.summary, { total: 3, succeeded: 1, failed: 1, unreachable: 1, skipped: 0 });
    const byServer = Object.fromEntries(
      result.body.targets.map((target: { server: string }) => [target.server, target]),
    );
    assert.equal(byServer['ghost'].status, 'unreachable');
    assert.equal(byServer['ghost'].error.code, 'UNREACHABLE');
    assert.equal(byServer['broken'].status, 'failed');
    assert.equal(byServer['broken'].error.code, 'CONFIG_ERROR');
    assert.equal(result.body.callback, undefined, 'no callback URL, none sent');
  });

  it('stops at maxErrors: the rest is skipped', async () => {
    api.sandboxes['web-1'].behave('haproxy', 'upgrade', { exit: 1 });
    const answer = await api.call('POST', '/fleet/upgrade', {
      body: { select: 'all', product: 'haproxy', version: '3.0', canary: 1, maxErrors: '0' },
    });
    const result = await api.poll(answer.headers['location']!);
    assert.equal(result.body.status, 'failed');
    assert.deepEqual(result.body.summary, { total: 5, succeeded: 0, failed: 1, unreachable: 0, skipped: 4 });
    assert.equal(result.body.targets[0].error.code, 'HOOK_FAILED');
    api.sandboxes['web-1'].behave('haproxy', 'upgrade', {});
  });

  it('refuses bad requests before anything runs', async () => {
    const post = (body: unknown) => api.call('POST', '/fleet/upgrade', { body });
    const base = { select: 'all', product: 'deepfiler', version: '4.0' };
    assertError(await post({ ...base, select: 'web-1,nope' }), 404, 'UNKNOWN_SERVER');
    assertError(await post({ ...base, select: 'group:databases' }), 404, 'UNKNOWN_SERVER');
    assertError(await post({ ...base, select: 'web-1,,web-2' }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, maxErrors: '150%' }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, maxConcurrency: 0 }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, canary: -1 }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, healthGate: 'yes' }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, rollback: true }), 400, 'INVALID_REQUEST');
    assertError(await post({ select: 'all', version: '4.0' }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, product: 'Deep Filer' }), 400, 'INVALID_REQUEST');
    assertError(await post({ ...base, callbackUrl: 'http://10.0.0.1/hook' }), 400, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/fleet/upgrade'), 405, 'INVALID_REQUEST');
    assertError(await api.call('GET', '/fleet/operations/op_UNKNOWN'), 400, 'INVALID_REQUEST');
    assert.equal(api.worker.running(), 0, 'nothing was dispatched');
  });

  it('without a store, GET /fleet/operations/{id} says that results go to the callback', async () => {
    const handler = createApiHandler({ fleet: api.fleet, dispatch: async () => {} });
    const answer = await handler(buildHttpEvent({ method: 'GET', url: '/fleet/operations/rollout-42' }));
    assert.equal(answer.statusCode, 400);
    assert.match(JSON.parse(answer.body).message, /callback/);
  });
});
