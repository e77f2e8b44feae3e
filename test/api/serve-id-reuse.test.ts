// SPEC 2.6 ("nothing is changed by an operation that ends in an INVALID_* error") and 7.1 ("the
// same operationId sent again answers with the same operation, never a second run") over `serve`:
// an operation id already taken by one server's operation, sent for another server, is refused
// before anything runs on that server — one after the other, and racing.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useDemoServe } from './serve-setup.ts';

describe('serve: one operation id, two servers', () => {
  const demo = useDemoServe('serve-id-reuse-');

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${demo.server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const get = async (path: string) => {
    const response = await fetch(`${demo.server.url}${path}`);
    return { status: response.status, body: await response.json() };
  };
  const journal = (host: string, id: string) =>
    join(demo.dir, 'hosts', host, 'state', 'operations', `${id}.json`);

  it('refuses the id for another server before anything runs there', async () => {
    const first = await post('/servers/web-1/provision', { role: 'edge', operationId: 'dup-1' });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const second = await post('/servers/web-2/provision', { role: 'edge', operationId: 'dup-1' });
    assert.equal(second.status, 400, JSON.stringify(second.body));
    assert.equal(second.body.code, 'INVALID_REQUEST');
    assert.equal(second.body.details.operationId, 'dup-1');
    await demo.server.worker.idle();
    assert.ok(existsSync(journal('web-1', 'dup-1')));
    assert.ok(!existsSync(journal('web-2', 'dup-1')), 'web-2 ran the operation it was refused');
    assert.deepEqual((await get('/servers/web-2/mode')).body, { mode: 'maintenance' });
    // The same request again for web-1 still answers its operation.
    const again = await post('/servers/web-1/provision', { role: 'edge', operationId: 'dup-1' });
    assert.equal(again.status, 202);
  });

  it('two servers racing for one id: one runs it, the other is refused and unchanged', async () => {
    const [a, b] = await Promise.all([
      post('/servers/web-1/products/haproxy/upgrade', { version: '7.0', operationId: 'dup-race' }),
      post('/servers/worker-1/provision', { role: 'worker', operationId: 'dup-race' }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [202, 400], JSON.stringify([a.body, b.body]));
    await demo.server.worker.idle();
    const ran = ['web-1', 'worker-1'].filter((host) => existsSync(journal(host, 'dup-race')));
    assert.equal(ran.length, 1, `ran on ${ran.join(', ')}`);
    assert.equal(ran[0], a.status === 202 ? 'web-1' : 'worker-1');
  });

  it('an id whose start was refused (UNKNOWN_ROLE) stays free for another request', async () => {
    const refused = await post('/servers/web-2/provision', { role: 'nope', operationId: 'free-1' });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    const next = await post('/servers/worker-1/products/deepfiler/upgrade', {
      version: '3.0.0',
      operationId: 'free-1',
    });
    assert.equal(next.status, 202, JSON.stringify(next.body));
    await demo.server.worker.idle();
  });
});
