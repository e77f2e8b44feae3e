// The heartbeat's shard plan (SPEC 7.2 v2): every host read within the period whatever the
// fleet's size, the shards within Lambda's limit and the reserved concurrency.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LAMBDA_MAX_MS, planHeartbeatShards } from '../../lib/fleet/heartbeat-shards.ts';
import { anyFleetAndCost, heartbeatSettings } from './heartbeat-settings.ts';

const base = heartbeatSettings();

describe('heartbeat shard plans', () => {
  it('10,000 hosts at 1 s and at 250 ms a host, 1 % dead: every shard the cap allows, ending within the period', () => {
    // More shards than the fewest that fit (8 of 1,250): the room left covers more dead hosts than assumed.
    const slow = planHeartbeatShards({ ...base, total: 10_000 });
    assert.deepEqual(
      { shards: slow.shards, size: slow.shardSize, concurrency: slow.hostConcurrency, budget: slow.budgetMs },
      { shards: 18, size: 556, concurrency: 10, budget: 240_000 },
    );
    assert.ok(slow.expectedShardMs < slow.budgetMs - base.hostTimeoutMs);
    const fast = planHeartbeatShards({ ...base, perHostMs: 250, total: 10_000 });
    assert.equal(fast.shards, 18);
    assert.ok(fast.expectedShardMs < fast.budgetMs - base.hostTimeoutMs);
  });

  it('raises the hosts read at once when the shards would exceed what may run side by side', () => {
    const plan = planHeartbeatShards({ ...base, total: 100_000, maxShards: 18 });
    assert.equal(plan.shards, 18);
    assert.equal(plan.mapConcurrency, 18);
    assert.ok(plan.hostConcurrency > 10);
    assert.ok(plan.expectedShardMs <= (plan.budgetMs - base.hostTimeoutMs) * 0.8 + 1);
  });

  it('for any fleet and cost: every host in one shard, within the budget, the budget within the period and Lambda', () => {
    fc.assert(
      fc.property(...anyFleetAndCost, (total, perHostMs, hostTimeoutMs, maxShards) => {
        const plan = planHeartbeatShards({ ...base, total, perHostMs, hostTimeoutMs, maxShards });
        assert.ok(plan.shards * plan.shardSize >= total);
        assert.ok(plan.shards <= Math.max(1, maxShards));
        assert.ok(plan.budgetMs < base.periodMs && plan.budgetMs < LAMBDA_MAX_MS);
        assert.ok(plan.expectedShardMs <= plan.budgetMs - hostTimeoutMs);
      }),
    );
  });
});
