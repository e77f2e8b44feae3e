// provision and upgrade through the API handler: 202 with `{ operationId }` and a Location,
// polling the journal until it is final, one signed callback at the end, idempotent repeats,
// and every error the routes can give before anything runs.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { present } from '../../lib/optional.ts';
import type { CallbackReceiver } from '../support/callback-receiver.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { type ApiFixture, assertError, block, release, useApiWithReceiver } from './fixture.ts';

/** Makes a hook count its runs in out/<product>.<action>.runs. */
function countRuns(sandbox: Sandbox, product: string, action: 'provision' | 'upgrade', extra = ''): void {
  writeFileSync(
    join(sandbox.root, 'behaviour', `${product}.${action}`),
    `echo run >> "$root/out/$name.runs"\n${extra}`,
  );
}

function runs(sandbox: Sandbox, product: string, action: string): number {
  try {
    return (
      readFileSync(join(sandbox.root, 'out', `${product}.${action}.runs`), 'utf8').split('\n').length - 1
    );
  } catch {
    return 0;
  }
}

describe('API long routes: provision and upgrade', () => {
  let api: ApiFixture;
  let receiver: CallbackReceiver;
  useApiWithReceiver((started) => {
    ({ api, receiver } = started);
  });

  it('provision answers 202 at once; the journal, polled, ends succeeded; one signed callback', async () => {
    const web1 = api.sandboxes['web-1'];
    countRuns(web1, 'haproxy', 'provision');
    const answer = await api.call('POST', '/servers/web-1/provision', {
      body: { role: 'edge', callbackUrl: `${receiver.url}/hooks/provision` },
      headers: { 'idempotency-key': 'deploy-2026-11-25-web-1' },
    });
    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { operationId: 'deploy-2026-11-25-web-1' });
    assert.equal(answer.headers['location'], '/servers/web-1/operations/deploy-2026-11-25-web-1');

    const journal = await api.poll(answer.headers['location']!);
    assert.equal(journal.status, 200);
    assert.equal(journal.body.id, 'deploy-2026-11-25-web-1');
    assert.equal(journal.body.command, 'server.provision');
    assert.equal(journal.body.status, 'succeeded');
    assert.deepEqual(
      journal.body.steps.map((step: { product: string; exitCode: number }) => [step.product, step.exitCode]),
      [
        ['haproxy', 0],
        ['deepfiler', 0],
      ],
    );
    await api.worker.idle();
    assert.equal(receiver.requests.length, 1);
    const [callback] = receiver.requests;
    assert.equal(callback!.path, '/hooks/provision');
    assert.equal(callback!.signatureValid, true);
    assert.equal(callback!.headers['idempotency-key'], 'deploy-2026-11-25-web-1');
    const result = JSON.parse(callback!.body);
    assert.equal(result.operationId, 'deploy-2026-11-25-web-1');
    assert.equal(result.command, 'server.provision');
    assert.deepEqual(result.args, { role: 'edge' });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.summary, { total: 1, succeeded: 1, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(result.targets[0].result, journal.body);
    assert.equal((await api.call('GET', '/servers/web-1/mode')).body.mode, 'active');

    // The same key again: the same operation, nothing run again, no second callback.
    const again = await api.call('POST', '/servers/web-1/provision', {
      body: { role: 'edge', callbackUrl: `${receiver.url}/hooks/provision` },
      headers: { 'idempotency-key': 'deploy-2026-11-25-web-1' },
    });
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, { operationId: 'deploy-2026-11-25-web-1' });
    assert.equal(again.headers['location'], answer.headers['location']);
    const viaBody = await api.call('POST', '/servers/web-1/provision', {
      body: { role: 'edge', operationId: 'deploy-2026-11-25-web-1' },
    });
    assert.equal(viaBody.status, 202);
    await api.worker.idle();
    assert.equal(runs(web1, 'haproxy', 'provision'), 1);
    assert.equal(receiver.requests.length, 1);

    // The same id for another request is refused; so are two ids at once and a malformed key.
    const refused: Array<[string, { body?: unknown; headers?: Record<string, string> }]> = [
      [
        '/servers/web-1/products/haproxy/upgrade',
        { body: { version: '2.0' }, headers: { 'idempotency-key': 'deploy-2026-11-25-web-1' } },
      ],
      ['/servers/web-1/provision', { body: { role: 'worker', operationId: 'deploy-2026-11-25-web-1' } }],
      ['/servers/web-1/provision', { body: { operationId: 'one' }, headers: { 'idempotency-key': 'two' } }],
      ['/servers/web-1/provision', { headers: { 'idempotency-key': 'no spaces allowed' } }],
    ];
    for (const [url, request] of refused) {
      assertError(await api.call('POST', url, request), 400, 'INVALID_REQUEST');
    }
  });

  it('upgrade answers 202; a failing hook ends the journal failed (HOOK_FAILED) and the callback says so', async () => {
    const web2 = api.sandboxes['web-2'];
    const ok = await api.call('POST', '/servers/web-2/products/deepfiler/upgrade', {
      body: { version: '3.2.1' },
    });
    assert.equal(ok.status, 202);
    assert.match(ok.body.operationId, /^op_[0-9A-Z]{26}$/);
    const done = await api.poll(ok.headers['location']!);
    assert.equal(done.body.status, 'succeeded', JSON.stringify(done.body));
    assert.deepEqual(done.body.args, { product: 'deepfiler', version: '3.2.1' });
    assert.equal((await api.call('GET', '/servers/web-2/products/deepfiler')).body.state.version, '3.2.1');

    web2.behave('deepfiler', 'upgrade', { exit: 3, output: 'package not found' });
    const before = receiver.requests.length;
    const bad = await api.call('POST', '/servers/web-2/products/deepfiler/upgrade', {
      body: { version: '9.9.9', callbackUrl: receiver.url },
    });
    assert.equal(bad.status, 202);
    const failed = await api.poll(bad.headers['location']!);
    assert.equal(failed.status, 200);
    assert.equal(failed.body.status, 'failed');
    assert.equal(failed.body.error.code, 'HOOK_FAILED');
    await api.worker.idle();
    assert.equal(receiver.requests.length, before + 1);
    const result = JSON.parse(receiver.requests.at(-1)!.body);
    assert.equal(result.status, 'failed');
    assert.equal(result.targets[0].status, 'failed');
    assert.equal(result.targets[0].error.code, 'HOOK_FAILED');
    assert.equal((await api.call('GET', '/servers/web-2/products/deepfiler')).body.state.version, '3.2.1');
    web2.behave('deepfiler', 'upgrade', {});
  });

  it('refuses before anything runs: bad bodies, unknown names, roles and products, missing hooks, locks', async () => {
    const worker1 = api.sandboxes['worker-1'];
    const post = (url: string, body?: unknown) => api.call('POST', url, present({ body }));
    assertError(await post('/servers/worker-1/provision'), 422, 'UNKNOWN_ROLE');
    assertError(await post('/servers/worker-1/provision', { role: 'database' }), 422, 'UNKNOWN_ROLE');
    assertError(await post('/servers/worker-1/provision', { role: 'Edge!' }), 400, 'INVALID_REQUEST');
    assertError(
      await post('/servers/worker-1/provision', { role: 'edge', dryRun: true }),
      400,
      'INVALID_REQUEST',
    );
    assertError(await post('/servers/nowhere/provision', { role: 'edge' }), 404, 'UNKNOWN_SERVER');
    assertError(await post('/servers/ghost/provision', { role: 'edge' }), 502, 'UNREACHABLE');
    assertError(await post('/servers/broken/provision', { role: 'edge' }), 424, 'CONFIG_ERROR');
    assertError(
      await post('/servers/worker-1/products/redis/upgrade', { version: '1.0' }),
      404,
      'UNKNOWN_PRODUCT',
    );
    assertError(await post('/servers/worker-1/products/haproxy/upgrade', {}), 400, 'INVALID_REQUEST');
    assertError(
      await post('/servers/worker-1/products/haproxy/upgrade', { version: '../1' }),
      400,
      'INVALID_REQUEST',
    );
    assertError(await post('/servers/worker-1/products/haproxy/upgrade'), 400, 'INVALID_REQUEST');
    for (const callbackUrl of [
      'http://example.com/hook',
      'https://169.254.169.254/latest',
      'ftp://x/y',
      'not a url',
    ]) {
      const refused = await post('/servers/worker-1/products/haproxy/upgrade', {
        version: '1.0',
        callbackUrl,
      });
      assertError(refused, 400, 'INVALID_REQUEST');
      assert.equal(refused.body.details.field, 'callbackUrl');
    }

    chmodSync(join(worker1.hooksDir, 'haproxy.upgrade.sh'), 0o644);
    assertError(
      await post('/servers/worker-1/products/haproxy/upgrade', { version: '1.0' }),
      422,
      'INVALID_SCRIPT',
    );
    chmodSync(join(worker1.hooksDir, 'haproxy.upgrade.sh'), 0o755);

    block(worker1, 'deepfiler', 'provision');
    const running = await post('/servers/worker-1/provision', { role: 'worker' });
    assert.equal(running.status, 202);
    const locked = await post('/servers/worker-1/products/haproxy/upgrade', { version: '1.0' });
    assertError(locked, 409, 'LOCKED');
    assert.equal(locked.body.details.operation, running.body.operationId);
    const journal = await api.call('GET', running.headers['location']!);
    assert.equal(journal.body.status, 'running');
    release(worker1);
    assert.equal((await api.poll(running.headers['location']!)).body.status, 'succeeded');
    const state = (await api.call('GET', '/servers/worker-1/products/haproxy')).body.state;
    assert.deepEqual(state, {}, 'the refused upgrades changed nothing');
  });
});
