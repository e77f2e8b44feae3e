// A heartbeat shard whose invocation fails on its own — the function crashes, runs out of memory or
// times out, after reading some of its hosts — runs again, and the retry reads only until the
// deadline the plan gave the shard (SPEC 7.2 v2: every host in every period, within the period), on
// the SYNTHESIZED heartbeat state machine run by the ASL simulation over the real steps, the runs
// bucket in the loopback S3 server and dynalite, in virtual time (as
// heartbeat-shard-io-simulation.test.ts).
//
// Why: the Shard task retried only Lambda's transient errors, so a shard that crashed left all its
// hosts `skipped` for the period (the Map tolerates the failure, the report counts a shard without
// a record as skipped); and a shard's deadline was counted from its own start, so a retried one
// would have had a whole budget again and run past the period.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planHeartbeatShards } from '../../lib/fleet/heartbeat-shards.ts';
import { createMemoryBlobStore } from '../../lib/fleet/steps/deps.ts';
import {
  type HeartbeatDeps,
  type HeartbeatSettings,
  planHeartbeat,
  runHeartbeatShard,
  runHeartbeatStep,
  type ShardItem,
} from '../../lib/fleet/steps/heartbeat.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import { StatesError } from '../support/asl/index.ts';
import { createHostDoubles } from '../support/host-double.ts';
import {
  allHealthy,
  functionError,
  killed,
  onVirtualClock,
  taskRuns,
  useHeartbeatSimulation,
} from './heartbeat-setup.ts';

const HOSTS = 40;
const PERIOD_MS = 300_000;
const CRASHING_SHARD = 1;

interface Case {
  title: string;
  settings: Pick<HeartbeatSettings, 'hostTimeoutMs' | 'hostConcurrency'>;
  /** What one host's read costs (virtual time). */
  hostMs: number;
  /** The crashing shard's first invocation: after reading this many hosts, hangs `hangMs`, then fails. */
  crash: { afterHosts: number; hangMs: number; error: () => Error };
  /** Every host read and reported (none skipped); otherwise the retry ran out of time. */
  allRead: boolean;
}

const cases: Case[] = [
  {
    title: 'the function crashes after reading 3 hosts',
    settings: { hostTimeoutMs: 30_000, hostConcurrency: 10 },
    hostMs: 1000,
    crash: {
      afterHosts: 3,
      hangMs: 0,
      error: killed,
    },
    allRead: true,
  },
  {
    title: 'the invocation times out (States.Timeout) after reading 3 hosts',
    settings: { hostTimeoutMs: 30_000, hostConcurrency: 10 },
    hostMs: 1000,
    crash: {
      afterHosts: 3,
      hangMs: 60_000,
      error: () => new StatesError('States.Timeout', 'Task timed out'),
    },
    allRead: true,
  },
  {
    title: 'the first attempt took most of the budget before it ran out of memory',
    settings: { hostTimeoutMs: 10_000, hostConcurrency: 1 },
    hostMs: 5000,
    crash: {
      afterHosts: 3,
      hangMs: 190_000,
      error: () => functionError('Runtime.OutOfMemory', 'Runtime exited with error: signal: killed'),
    },
    allRead: false,
  },
];

describe('a heartbeat shard whose invocation fails on its own runs again until its deadline (virtual time)', () => {
  const hb = useHeartbeatSimulation();

  for (const [index, { title, settings: shape, hostMs, crash, allRead }] of cases.entries()) {
    it(`${title}: ${allRead ? 'every host read, none skipped' : 'the retry reads until the deadline, the rest skipped'}, within the period`, async () => {
      const operationId = `hb-shard-retry-${index}`;
      const hosts = createHostDoubles(HOSTS);
      const backends = hb.backends(hosts.tick);
      const settings = heartbeatSettings({ periodMs: PERIOD_MS, maxShards: 4, ...shape });
      const { budgetMs } = planHeartbeatShards({ ...settings, total: HOSTS });
      const deps: HeartbeatDeps = {
        fleet: hosts.fleet,
        blobs: backends.blobs,
        ledger: backends.ledger,
        logger: { info: () => {}, warn: () => {} },
        settings,
      };
      /** Every host read: by which shard attempt, from when until when (virtual ms). */
      const reads: { server: string; shard: number; attempt: number; at: number; done?: number }[] = [];
      let crashed = 0;
      const sim = hb.stepFunctions((step, ctx, sim) => {
        const shard = step.step === 'heartbeat-shard' ? step.item.shard : -1;
        const crashing = shard === CRASHING_SHARD && ctx.retryCount === 0;
        const read = hosts.readHeartbeat(() => hostMs, ctx.sleep);
        let failed: ((error: Error) => void) | undefined;
        const failure = new Promise<never>((_, reject) => {
          failed = reject;
        });
        let started = 0;
        const invocation = onVirtualClock(
          {
            ...deps,
            // The failed invocation never gets as far as writing its record (the hosts it left
            // hanging would time out here, where a dead function stops).
            blobs: crashing ? { ...deps.blobs, put: () => new Promise(() => {}) } : deps.blobs,
          },
          sim,
          ctx,
          async (server, options) => {
            if (crashing && started >= crash.afterHosts) {
              // The invocation dies here: nothing after it runs (its record is never written).
              if (started++ === crash.afterHosts) {
                await ctx.sleep(crash.hangMs);
                crashed += 1;
                failed!(crash.error());
              }
              return new Promise(() => {});
            }
            started += 1;
            const entry = {
              server,
              shard,
              attempt: ctx.retryCount,
              at: sim.clock.now(),
            } as (typeof reads)[0];
            reads.push(entry);
            const answer = await read(server, options);
            entry.done = sim.clock.now();
            return answer;
          },
        );
        const work = runHeartbeatStep(invocation, step);
        return crashing ? Promise.race([work, failure]) : work;
      });
      const result = await hb.execute(sim, {
        operationId,
        startedAt: new Date(sim.clock.now()).toISOString(),
      });
      assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));
      assert.ok(result.stopDate - result.startDate < PERIOD_MS, 'the execution ends within the period');
      assert.equal(crashed, 1, 'the first attempt of the shard failed');
      assert.equal(taskRuns(sim, 'Shard'), 5, 'four shards, the failed one run again');
      const failures = sim.events.filter((event) => event.type === 'TaskFailed' && event.state === 'Shard');
      assert.equal(failures.length, 1, 'one shard invocation failed');

      const planAt = sim.events.find(
        (event) => event.type === 'TaskScheduled' && event.state === 'HeartbeatPlan',
      )!.at;
      const deadlineAt = planAt + budgetMs;
      const retried = reads.filter((r) => r.shard === CRASHING_SHARD && r.attempt > 0);
      assert.ok(retried.length > 0, 'the retry read hosts');
      for (const r of reads)
        assert.ok(r.done !== undefined && r.done <= deadlineAt, `${r.server} read by the deadline`);
      const retryDone = sim.events.filter(
        (event) => event.type === 'TaskSucceeded' && event.state === 'Shard',
      );
      assert.equal(retryDone.length, 4);
      for (const event of retryDone) assert.ok(event.at <= deadlineAt, 'every shard ends by its deadline');

      const report = hb.report(operationId);
      assert.deepEqual(
        report.hosts.map((host: { server: string }) => host.server),
        hosts.names,
        'every host, in inventory order',
      );
      const skipped = report.hosts.filter((host: { status: string }) => host.status === 'skipped');
      if (allRead) {
        assert.deepEqual(report.summary, allHealthy(HOSTS));
        assert.deepEqual(
          [...new Set(hosts.touches.map((touch) => touch.server))].sort(),
          hosts.names,
          'every host read',
        );
      } else {
        // The retry started with about 35 s left of the shard's budget: it read what a host timeout
        // still fitted in, and recorded the rest skipped rather than run past the period.
        assert.ok(
          skipped.length > 0 && skipped.length < 10,
          `some of the shard's hosts skipped: ${skipped.length}`,
        );
        assert.equal(report.summary.skipped, skipped.length);
        assert.equal(report.summary.healthy, HOSTS - skipped.length);
        const shardHosts = new Set(hosts.names.slice(CRASHING_SHARD * 10, (CRASHING_SHARD + 1) * 10));
        for (const host of skipped)
          assert.ok(shardHosts.has(host.server), `${host.server}: only the failed shard skips`);
      }
    });
  }
});

describe("a heartbeat shard's deadline (the plan's time plus the budget)", () => {
  const item = {
    operationId: 'hb-deadline',
    shard: 0,
    servers: ['host-00001', 'host-00002', 'host-00003'],
    hostConcurrency: 1,
    hostTimeoutMs: 30_000,
    budgetMs: 240_000,
  };
  const run = async (clockAt: number, extra: { deadlineAt?: number }) => {
    const hosts = createHostDoubles(3);
    const blobs = createMemoryBlobStore();
    let now = clockAt;
    const summary = await runHeartbeatShard(
      {
        fleet: hosts.fleet,
        blobs,
        ledger: undefined as never,
        settings: heartbeatSettings({ periodMs: PERIOD_MS, hostConcurrency: 1, maxShards: 4 }),
        clock: () => now,
        sleep: async (ms) => {
          now += ms;
        },
        readHost: hosts.readHeartbeat(
          () => 1000,
          async (ms) => {
            now += ms;
          },
        ),
      },
      { ...item, ...extra },
    );
    const record = JSON.parse(blobs.objects.get('runs/heartbeats/hb-deadline/shard-0.json')!);
    return { summary, record, touches: hosts.touches.length, spent: now - clockAt };
  };

  it('a shard started past its deadline reads no host and records them skipped at once', async () => {
    const { summary, record, touches, spent } = await run(1_000_000, { deadlineAt: 999_000 });
    assert.equal(touches, 0);
    assert.equal(summary.summary.skipped, 3);
    assert.deepEqual(
      record.hosts.map((host: { status: string }) => host.status),
      ['skipped', 'skipped', 'skipped'],
    );
    assert.equal(spent, 0);
  });

  it('an item planned without a deadline (an execution in flight over a deploy) has its whole budget', async () => {
    const { summary, touches } = await run(1_000_000, {});
    // Every host started (this instant clock lets their timeouts win: what matters is none skipped).
    assert.equal(touches, 3);
    assert.equal(summary.summary.skipped, 0);
  });

  it('the plan gives every shard the same deadline: its own time plus the budget', async () => {
    const hosts = createHostDoubles(HOSTS);
    const blobs = createMemoryBlobStore();
    const settings = heartbeatSettings({ periodMs: PERIOD_MS, maxShards: 4 });
    const at = Date.parse('2026-11-27T12:15:04Z');
    const plan = await planHeartbeat(
      { fleet: hosts.fleet, blobs, ledger: undefined as never, settings, clock: () => at },
      { operationId: 'hb-plan-deadline', startedAt: '2026-11-27T12:15:00Z' },
    );
    const items = JSON.parse(blobs.objects.get(plan.key)!) as ShardItem[];
    assert.equal(items.length, 4);
    for (const shard of items) assert.equal(shard.deadlineAt, at + plan.budgetMs);
  });
});
