// A run's backlog reaches its targets only in a process whose transports read it (SSM's batcher):
// elsewhere runs never touch the AsyncLocalStorage, whose first `run` would install async hooks
// for the whole process. This file's module state is its own (node --test runs each file in a
// process of its own), and its tests run in order: the first sees a process without SSM.
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, describe, it } from 'node:test';
import { parseInventory } from '../../lib/config/inventory.ts';
import { runFleet } from '../../lib/fleet/index.ts';
import { createInventoryFleet } from '../../lib/orchestrate/inventory-fleet.ts';
import { currentFleetBacklog } from '../../lib/transport/backlog.ts';

// Counts the storage runs that carry a backlog (other code of the process may use its own).
const run = AsyncLocalStorage.prototype.run;
let runs = 0;
AsyncLocalStorage.prototype.run = function counted(this: AsyncLocalStorage<unknown>, ...args: unknown[]) {
  if (typeof (args[0] as { waiting?: unknown } | null)?.waiting === 'function') runs += 1;
  return Reflect.apply(run, this, args);
} as typeof run;

/** Runs `targets` two at a time; what each target saw as its run's backlog (null: none). */
async function backlogsSeen(targets: string[]): Promise<Array<number | null>> {
  const seen: Array<number | null> = [];
  const result = await runFleet({
    operationId: 'op_backlog',
    command: 'heartbeat.get',
    targets,
    maxConcurrency: 2,
    maxErrors: 0,
    runTarget: async () => {
      // After an await, as a transport's exec reads it.
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(currentFleetBacklog()?.waiting() ?? null);
      return { status: 'succeeded', result: null };
    },
  });
  assert.equal(result.summary.succeeded, targets.length);
  return seen;
}

describe('the fleet backlog', () => {
  after(() => {
    AsyncLocalStorage.prototype.run = run;
  });

  it('is not kept, and installs nothing, in a process whose fleets have no SSM host', async () => {
    const inventory = parseInventory(
      '[host:a]\ntransport = local\n[host:b]\naddress = 192.0.2.7\n[host:c]\ntransport = local\n',
      'inventory.ini',
    );
    const fleet = createInventoryFleet(inventory);
    assert.deepEqual(await backlogsSeen(fleet.select('all')), [null, null, null]);
    assert.equal(runs, 0);
    await fleet.close();
  });

  it('reaches every target once a fleet has an SSM host', async () => {
    const inventory = parseInventory(
      '[host:a]\ntransport = local\n[host:w]\ntransport = ssm\ninstance_id = i-0123456789abcdef0\n',
      'inventory.ini',
    );
    const fleet = createInventoryFleet(inventory, { ssmClientFor: () => assert.fail('not used') });
    // Five targets, two at a time: the first sees the three not yet started, the last none, and
    // each one no more than the one before it.
    const seen = await backlogsSeen(['a', 'w', 'a', 'w', 'a']);
    assert.equal(seen[0], 3);
    assert.equal(seen.at(-1), 0);
    assert.deepEqual(
      seen,
      [...seen].sort((x, y) => (y ?? -1) - (x ?? -1)),
    );
    assert.equal(runs, 5);
    await fleet.close();
  });
});
