// The heartbeat's plan against tail starvation (SPEC 7.2 v2, "no host starved at the tail of the
// inventory"): the plan uses every shard the reserved concurrency allows while that shortens a
// shard's work, so a period with more dead hosts than assumed still fits where it can; and each
// shard's reading starts at a point that moves with the period's number, so what one period
// leaves unread (the end of a shard's order) is read early in the next one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  FILL,
  planHeartbeatShards,
  ROTATION,
  rotated,
  rotationStride,
  shardStart,
} from '../../lib/fleet/heartbeat-shards.ts';
import { createMemoryDeliveryLedger } from '../../lib/fleet/run-store.ts';
import {
  type HeartbeatDeps,
  heartbeatPeriod,
  heartbeatRunId,
  planHeartbeat,
  runHeartbeatShard,
  type ShardItem,
} from '../../lib/fleet/steps/heartbeat.ts';
import { createHostDoubles } from '../support/host-double.ts';
import { anyFleetAndCost, heartbeatSettings } from './heartbeat-settings.ts';

const base = heartbeatSettings();

/** What one shard's hosts cost when `dead` of them are dead (the time the shard needs to start them). */
const shardWorkMs = (size: number, concurrency: number, dead: number) =>
  (size * ((1 - dead) * base.perHostMs + dead * base.hostTimeoutMs)) / concurrency;

describe('heartbeat plan: the concurrency it has', () => {
  it('10,000 hosts, 1 % dead assumed: all 18 shards the cap allows, so 5 % dead still fits', () => {
    const plan = planHeartbeatShards({ ...base, total: 10_000 });
    assert.deepEqual(
      {
        shards: plan.shards,
        size: plan.shardSize,
        concurrency: plan.hostConcurrency,
        budget: plan.budgetMs,
        map: plan.mapConcurrency,
      },
      { shards: 18, size: 556, concurrency: 10, budget: 240_000, map: 18 },
    );
    // A shard starts no host once less than a host timeout is left: 210 s to start its hosts.
    const window = plan.budgetMs - base.hostTimeoutMs;
    assert.ok(shardWorkMs(plan.shardSize, plan.hostConcurrency, 0.05) < window, '5 % dead fits');
    // 10 % dead is more than 18 shards of 10 hosts at once can start in 210 s (≈ 217 s a shard):
    // what is left over is the rotation's to spread (below).
    assert.ok(shardWorkMs(plan.shardSize, plan.hostConcurrency, 0.1) > window);
    // Before: 8 shards of 1,250 (sized on the 1 % assumed) that 3 % dead already overflowed.
    assert.ok(shardWorkMs(1250, 10, 0.03) > window);
  });

  it('a fleet that one read at a time per shard covers: no more shards than make each shorter', () => {
    assert.equal(planHeartbeatShards({ ...base, total: 10 }).shards, 1);
    assert.equal(planHeartbeatShards({ ...base, total: 50 }).shards, 5);
    assert.equal(planHeartbeatShards({ ...base, total: 0 }).shards, 0);
    const fast = planHeartbeatShards({ ...base, perHostMs: 250, total: 10_000 });
    assert.equal(fast.shards, 18);
  });

  it('over the cap: the cap, and more hosts read at once (as before)', () => {
    const plan = planHeartbeatShards({ ...base, total: 100_000 });
    assert.equal(plan.shards, 18);
    assert.equal(plan.mapConcurrency, 18);
    assert.ok(plan.hostConcurrency > 10);
    assert.ok(plan.expectedShardMs <= (plan.budgetMs - base.hostTimeoutMs) * FILL + 1);
  });

  it('for any fleet: the fewest shards that fit, else as many as shorten a shard, never past the cap', () => {
    fc.assert(
      fc.property(
        ...anyFleetAndCost,
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        (total, perHostMs, hostTimeoutMs, maxShards, hostConcurrency, deadShare) => {
          const input = { ...base, total, perHostMs, hostTimeoutMs, maxShards, hostConcurrency, deadShare };
          const plan = planHeartbeatShards(input);
          assert.ok(plan.shards * plan.shardSize >= total, 'every host in a shard');
          assert.ok((plan.shards - 1) * plan.shardSize < Math.max(1, total), 'no empty shard');
          assert.ok(plan.shards <= maxShards, 'within the cap');
          assert.ok(plan.mapConcurrency <= maxShards && plan.mapConcurrency >= Math.min(1, plan.shards));
          assert.ok(plan.expectedShardMs <= plan.budgetMs - hostTimeoutMs, 'the expected work fits');
          assert.ok(plan.hostConcurrency >= hostConcurrency);
          if (total > 0) {
            // Spare shards are used while they shorten a shard: a shard reads all its hosts at
            // once, or smaller shards would take more than the cap allows.
            assert.ok(
              plan.shardSize <= hostConcurrency || Math.ceil(total / (plan.shardSize - 1)) > maxShards,
              JSON.stringify({ input, plan }),
            );
          }
        },
      ),
    );
  });
});

describe('heartbeat plan: the order moves each period', () => {
  it('the stride: about 38 % of the shard, at most half of it, prime to its size', () => {
    assert.equal(rotationStride(0), 0);
    assert.equal(rotationStride(1), 0);
    assert.equal(rotationStride(2), 1);
    assert.equal(rotationStride(556), 211);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 100_000 }), (size) => {
        const stride = rotationStride(size);
        assert.ok(stride >= 1 && stride <= size / 2, `${stride} of ${size}`);
        assert.ok(Math.abs(stride - size * ROTATION) <= Math.max(6, size * 0.01), `${stride} of ${size}`);
        let [a, b] = [stride, size];
        while (b !== 0) [a, b] = [b, a % b];
        assert.equal(a, 1);
      }),
    );
  });

  it('deterministic per period; consecutive periods a stride apart; every start in turn', () => {
    const size = 556;
    const period = heartbeatPeriod(new Date('2026-11-27T12:05:03Z'), base.periodMs);
    assert.equal(shardStart(period, size), shardStart(period, size));
    assert.equal(
      (shardStart(period + 1, size) - shardStart(period, size) + size) % size,
      rotationStride(size),
    );
    const starts = new Set(Array.from({ length: size }, (_, k) => shardStart(period + k, size)));
    assert.equal(starts.size, size, 'over `size` periods every host comes last once');
    assert.equal(shardStart(Number.NaN, size), 0);
    assert.equal(shardStart(-3, 7), shardStart(4, 7));
    assert.deepEqual(rotated(['a', 'b', 'c', 'd'], 1), ['b', 'c', 'd', 'a']);
    assert.deepEqual(rotated(['a', 'b', 'c', 'd'], 0), ['a', 'b', 'c', 'd']);
    assert.deepEqual(rotated([], 3), []);
  });

  it('for any shard and period: what one period leaves unread (up to a stride) is read in the next', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (size, period, a, b) => {
          const servers = Array.from({ length: size }, (_, i) => i);
          const stride = rotationStride(size);
          // Each period leaves unread at most a stride's worth (a shard reading ≥ 62 % of its hosts).
          const [first, second] = [Math.floor(a * stride), Math.floor(b * stride)];
          const tail = (k: number, unread: number) =>
            new Set(rotated(servers, shardStart(k, size)).slice(size - unread));
          const left = tail(period, first);
          const next = tail(period + 1, second);
          for (const host of left) assert.ok(!next.has(host), `host ${host} of ${size} unread twice`);
        },
      ),
    );
  });
});

describe('heartbeat plan step and shard step', () => {
  const HOSTS = 1_000;
  const hosts = createHostDoubles(HOSTS);
  const mem = new Map<string, string>();
  const blobs = {
    bucket: 'runs',
    get: async (key: string) => mem.get(key),
    put: async (key: string, value: string) => void mem.set(key, value),
  };
  const deps: HeartbeatDeps = {
    fleet: hosts.fleet,
    blobs,
    ledger: createMemoryDeliveryLedger(),
    settings: base,
  };
  const planFor = async (time: Date, operationId = heartbeatRunId(time, base.periodMs)) => {
    const plan = await planHeartbeat(deps, { operationId, startedAt: time.toISOString() });
    return JSON.parse(mem.get(plan.key)!) as ShardItem[];
  };
  /** `deps` whose hosts answer at once, each noted in `order` as it is read. */
  const readingInto = (order: string[]): HeartbeatDeps => ({
    ...deps,
    readHost: async (server, options) => {
      order.push(server);
      return hosts.readHeartbeat(() => 0)(server, options);
    },
  });

  it('shards in inventory order, each starting where its period puts it; the same period plans the same', async () => {
    const time = new Date('2026-11-27T12:05:03Z');
    const items = await planFor(time);
    assert.equal(items.length, 18, 'the cap: 1,000 hosts are 100 reads of 10 at once');
    assert.deepEqual(
      items.flatMap((item) => item.servers),
      hosts.names,
      'inventory order',
    );
    const period = heartbeatPeriod(time, base.periodMs);
    for (const item of items) assert.equal(item.startAt, shardStart(period, item.servers.length));
    assert.ok(items.some((item) => item.startAt !== 0));
    // The execution run again, or the schedule's event handled later in the same period.
    const again = await planFor(new Date('2026-11-27T12:09:59Z'), heartbeatRunId(time, base.periodMs));
    // The same shards; only the deadline is the new plan's (its time plus the budget).
    const shards = (list: ShardItem[]) => list.map(({ deadlineAt: _, ...item }) => item);
    assert.deepEqual(shards(again), shards(items));
    for (const item of [...items, ...again]) assert.equal(typeof item.deadlineAt, 'number');
    const next = await planFor(new Date('2026-11-27T12:10:03Z'));
    assert.notDeepEqual(
      next.map((item) => item.startAt),
      items.map((item) => item.startAt),
    );
  });

  it('a shard reads from its start, wrapping round, and keeps its hosts in inventory order', async () => {
    const item: ShardItem = {
      operationId: 'hb-shard-order',
      shard: 0,
      servers: hosts.names.slice(0, 8),
      startAt: 3,
      hostConcurrency: 1,
      hostTimeoutMs: 30_000,
      budgetMs: 240_000,
    };
    const order: string[] = [];
    await runHeartbeatShard(readingInto(order), item);
    assert.deepEqual(order, rotated(item.servers, 3));
    const record = JSON.parse(mem.get('runs/heartbeats/hb-shard-order/shard-0.json')!);
    assert.deepEqual(
      record.hosts.map((host: { server: string }) => host.server),
      item.servers,
    );
    assert.equal(record.summary.healthy, 8);
  });

  it('an item planned before the rotation (no startAt) reads from the first host', async () => {
    const order: string[] = [];
    await runHeartbeatShard(readingInto(order), {
      operationId: 'hb-no-start',
      shard: 0,
      servers: hosts.names.slice(0, 4),
      hostConcurrency: 1,
      hostTimeoutMs: 30_000,
      budgetMs: 240_000,
    });
    assert.deepEqual(order, hosts.names.slice(0, 4));
  });
});
