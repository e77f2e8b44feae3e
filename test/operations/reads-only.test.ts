// Which programs the operations mark as reads (ExecRequest `readsOnly`): an SSH host session runs
// those in its own shell (test/transport/ssh-session.test.ts), so a program that writes, takes the
// lock or runs checks must never carry the mark.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCommand, runHeartbeat } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { ExecRequest, Transport } from '../../lib/transport/types.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

describe('programs marked as reads', () => {
  let sandbox: Sandbox;
  const sent: ExecRequest[] = [];
  let transport: Transport;
  before(async () => {
    sandbox = createSandbox();
    const local = createLocalTransport({ target: 'web-1' });
    transport = {
      ...local,
      exec: (request) => {
        sent.push(request);
        return local.exec(request);
      },
    };
    await runCommand(sandbox.host(transport, 'web-1'), { command: 'server.provision', role: 'edge' });
  });
  after(() => sandbox.cleanup());

  const marks = async (run: () => Promise<unknown>) => {
    sent.length = 0;
    await run();
    return sent.map((request) => ({
      readsOnly: request.readsOnly === true,
      takesLock: /b_take_lock/.test(request.program),
    }));
  };

  it('a read is marked; a write is not, though the read before it is', async () => {
    const host = sandbox.host(transport, 'web-1');
    assert.deepEqual(await marks(() => runCommand(host, { command: 'product.get', product: 'haproxy' })), [
      { readsOnly: true, takesLock: false },
    ]);
    const set = await marks(() =>
      runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } }),
    );
    assert.ok(set.length >= 2, `product.set sent ${set.length} programs`);
    assert.deepEqual(set[0], { readsOnly: true, takesLock: false });
    assert.ok(
      set.slice(1).every((m) => !m.readsOnly),
      'no program after the first read of product.set is marked a read',
    );
    assert.ok(
      set.some((m) => m.takesLock),
      'product.set took the lock',
    );
  });

  it('a heartbeat that runs its checks is not marked', async () => {
    const host = sandbox.host(transport, 'web-1');
    const programs = await marks(() => runHeartbeat(host, {}));
    assert.ok(programs.length >= 1);
    for (const [i, request] of sent.entries()) {
      if (/b_cached_checks|b_check /.test(request.program))
        assert.notEqual(request.readsOnly, true, `program ${i}`);
    }
    assert.ok(
      sent.some((r) => /b_cached_checks|b_check /.test(r.program)),
      'the heartbeat ran its checks',
    );
  });
});
