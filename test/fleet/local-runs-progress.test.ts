// SPEC 7.1 v2: `GET /fleet/operations/{id}` is "the fleet run: its status, summary and targets so
// far". The in-process driver (`serve`) keeps the record as the cloud's plan step does: a summary
// with the total selected from the start, `targets: []` before any target reports, both growing as
// targets finish, then the aggregated result.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createLocalRuns } from '../../lib/fleet/local-runs.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type RunRecord,
} from '../../lib/fleet/run-store.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** Makes a host's upgrade hook wait until `release` exists in its sandbox. */
function holdUpgrade(sandbox: Sandbox): void {
  writeFileSync(
    join(sandbox.root, 'behaviour', 'deepfiler.upgrade'),
    'while [ ! -f "$root/release" ]; do sleep 0.05; done\n',
  );
}

function release(sandbox: Sandbox): void {
  writeFileSync(join(sandbox.root, 'release'), '');
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('condition not reached in 10 s');
}

describe('local fleet runs: the record while the run runs', () => {
  let sandboxes: Sandbox[];
  let fleet: Fleet;

  before(() => {
    sandboxes = [createSandbox(), createSandbox(), createSandbox()];
    fleet = createStaticFleet(
      sandboxes.map((sandbox, i) => ({
        groups: ['edge'],
        target: sandbox.host(createLocalTransport({ target: `web-${i + 1}` }), `web-${i + 1}`),
      })),
    );
  });
  after(async () => {
    for (const sandbox of sandboxes) release(sandbox);
    await fleet.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
  });

  it('has a summary (total selected) and targets [] from the start, counted as targets finish', async () => {
    for (const sandbox of sandboxes) holdUpgrade(sandbox);
    const store = createMemoryRunStore();
    const runs = createLocalRuns({ fleet, store, ledger: createMemoryDeliveryLedger(), pollMs: 20 });
    const id = 'op_progress_1';
    await runs.dispatch({
      kind: 'fleet',
      operationId: id,
      select: 'all',
      product: 'deepfiler',
      version: '3.2.3',
      maxConcurrency: 1,
      maxErrors: '100%',
      canary: 0,
      healthGate: false,
    });
    const first = (await store.get(id)) as RunRecord;
    assert.equal(first.status, 'running');
    assert.deepEqual(first.summary, { total: 3, succeeded: 0, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(first.targets, []);

    release(sandboxes[0]!);
    const one = await until(
      async () => (await store.get(id)) as RunRecord,
      (record) => (record.targets?.length ?? 0) >= 1,
    );
    assert.equal(one.status, 'running');
    assert.deepEqual(one.summary, { total: 3, succeeded: 1, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      one.targets?.map((target) => [target.server, target.status]),
      [['web-1', 'succeeded']],
    );

    release(sandboxes[1]!);
    release(sandboxes[2]!);
    await runs.idle();
    const last = (await store.get(id)) as RunRecord;
    assert.equal(last.status, 'succeeded');
    assert.deepEqual(last.summary, { total: 3, succeeded: 3, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      last.targets?.map((target) => target.server),
      ['web-1', 'web-2', 'web-3'],
    );
  });
});
