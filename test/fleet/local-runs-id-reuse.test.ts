// The in-process driver (`serve`'s runs): a server job under an operation id it already follows
// names the same operation when it states nothing that differs (SPEC 2.5: a provision without a
// role defaults to the recorded one), so it starts nothing new and the one operation calls back
// once with its journal; a job naming another role under that id is refused (SPEC 7.1).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import type { ServerJob } from '../../lib/fleet/job.ts';
import { createLocalRuns } from '../../lib/fleet/local-runs.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { type Journal, runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSandbox } from '../support/sandbox.ts';

describe('the in-process driver: one operation id used again', () => {
  const sandbox = createSandbox();
  after(() => sandbox.cleanup());

  it('a provision job without a role under the id of one with the recorded role is the same run', async () => {
    const host = sandbox.host(createLocalTransport({ target: 'web-1' }), 'web-1');
    const fleet = createStaticFleet([{ groups: [], target: host }]);
    const delivered: FleetResult[] = [];
    const runs = createLocalRuns({
      fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      deliver: async (_url, result) => {
        delivered.push(result);
        return { delivered: true, attempts: 1 };
      },
      pollMs: 20,
    });
    try {
      const job: ServerJob = {
        kind: 'server',
        operationId: 'lr-again-1',
        server: 'web-1',
        request: { command: 'server.provision', role: 'edge' },
        callbackUrl: 'http://127.0.0.1:9/hook',
      };
      // As the API does: the id reserved, the operation started detached, then followed.
      runs.reserve(job);
      await runCommand(
        host,
        { command: 'server.provision', role: 'edge', operationId: job.operationId },
        {
          detach: true,
        },
      );
      await runs.dispatch(job);

      const bare: ServerJob = { ...job, request: { command: 'server.provision' } };
      const giveBack = runs.reserve(bare);
      await runs.dispatch(bare);
      giveBack();
      assert.equal(runs.running(), 1, 'the repeat started nothing beside the first follower');
      assert.throws(
        () => runs.reserve({ ...job, request: { command: 'server.provision', role: 'worker' } }),
        (error: { code?: string; message?: string }) =>
          error.code === 'INVALID_REQUEST' &&
          /operation id lr-again-1 is already used by another request/.test(error.message ?? ''),
      );
      await runs.idle();

      const journal = (await runCommand(host, {
        command: 'operation.get',
        operationId: job.operationId,
      })) as Journal;
      assert.equal(journal.status, 'succeeded');
      assert.equal(delivered.length, 1);
      assert.deepEqual(delivered[0]!.targets[0], { server: 'web-1', status: 'succeeded', result: journal });
    } finally {
      runs.stop();
      await runs.idle();
      await fleet.close();
    }
  });
});
