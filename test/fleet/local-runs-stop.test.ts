// `serve` stopping (SIGTERM, Ctrl-C) stops following servers' operations at once: a follower polls
// a host it cannot read for up to a day (MAX_POLLS), which kept the process alive and reading the
// host long after it was told to stop. The operation goes on on its host; nothing calls back.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import { createLocalRuns } from '../../lib/fleet/local-runs.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSandbox } from '../support/sandbox.ts';

describe('the in-process driver, stopped', () => {
  const sandbox = createSandbox();
  after(() => sandbox.cleanup());

  it('stops following an operation whose host it cannot read, without calling back', async () => {
    // A host whose shell does not exist: every read fails, and the follower would poll on.
    const host = sandbox.host(createLocalTransport({ shell: '/nonexistent/sh', target: 'gone' }), 'gone');
    const fleet = createStaticFleet([{ groups: [], target: host }]);
    let delivered = 0;
    const runs = createLocalRuns({
      fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      deliver: async () => {
        delivered += 1;
        return { delivered: true, attempts: 1 };
      },
      pollMs: 50,
    });
    await runs.dispatch({
      kind: 'server',
      operationId: 'op_stopped_1',
      server: 'gone',
      request: { command: 'product.upgrade', product: 'deepfiler', version: '1.0' },
      callbackUrl: 'http://127.0.0.1:9/never',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(runs.running(), 1, 'the follower still polls the host it cannot read');
    const stopped = Date.now();
    runs.stop();
    await runs.idle();
    assert.ok(Date.now() - stopped < 2_000, `idle ${Date.now() - stopped} ms after stop`);
    assert.equal(runs.running(), 0);
    assert.equal(delivered, 0, 'a stopped follower does not call back');
    await fleet.close();
  });

  it('keeps no listener from one poll to the next (a day of polls would pile them up)', async () => {
    const host = sandbox.host(createLocalTransport({ shell: '/nonexistent/sh', target: 'gone' }), 'gone');
    const fleet = createStaticFleet([{ groups: [], target: host }]);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const runs = createLocalRuns({
      fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      pollMs: 1,
    });
    try {
      await runs.dispatch({
        kind: 'server',
        operationId: 'op_polled_long',
        server: 'gone',
        request: { command: 'product.upgrade', product: 'deepfiler', version: '1.0' },
      });
      // Well past the 10 listeners at which Node warns of a leak.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      runs.stop();
      await runs.idle();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      await fleet.close();
    }
  });
});
