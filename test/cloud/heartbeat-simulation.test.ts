// The fleet heartbeat of 10,000 hosts through the SYNTHESIZED heartbeat state machine, run by the
// ASL simulation (test/support/asl) over the real heartbeat steps (lib/fleet/steps/heartbeat.ts,
// parsed with the function's own schema), the runs bucket in the loopback S3 server, the
// delivery ledger on dynalite, and a callback receiver. Hosts are doubles answering after their
// cost; 1 % are dead (they never answer: each costs its whole timeout).
//
// Time is VIRTUAL: the simulation's clock (test/support/asl/virtual-clock.ts) drives the hosts'
// costs, their timeouts and the shards' budgets, so the real figures are used as they are (250 ms
// and 1 s a host, 30 s timeouts, a 5-minute period) and a loaded machine changes nothing;
// "every host read within the period" is measured on that clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HeartbeatDeps, heartbeatRunId, runHeartbeatStep } from '../../lib/fleet/steps/heartbeat.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import { createHostDoubles } from '../support/host-double.ts';
import {
  deliverReport,
  onVirtualClock,
  publishedCounts,
  taskRuns,
  useHeartbeatSimulation,
} from './heartbeat-setup.ts';

const HOSTS = 10_000;
const PERIOD_MS = 300_000;

describe(`the heartbeat of ${HOSTS} hosts on the simulated state machine (virtual time)`, () => {
  const hb = useHeartbeatSimulation();

  for (const costMs of [250, 1000]) {
    it(`${costMs} ms a host, 1 % dead: every host read within the period, one report, the period's counts once`, async () => {
      const hosts = createHostDoubles(HOSTS);
      for (let i = 0; i < HOSTS; i += 100) hosts.behaviour.set(hosts.names[i + 37]!, 'dead');
      const backends = hb.backends(hosts.tick);
      const stamps: number[] = [];
      const { metrics, published } = publishedCounts({
        setTimestamp: (timestamp) => {
          stamps.push(new Date(timestamp).getTime());
        },
        addDimension: () => {
          throw new Error("the schedule's run publishes the fleet's counts, with no dimension of its own");
        },
      });
      const deps: HeartbeatDeps = {
        fleet: hosts.fleet,
        blobs: backends.blobs,
        ledger: backends.ledger,
        settings: heartbeatSettings({ perHostMs: costMs, periodMs: PERIOD_MS }),
        metrics,
        callbackUrl: `${hb.peers.receiver.url}/heartbeat-${costMs}`,
        deliverReport,
      };
      let lastRead = 0;
      // Each invocation's hosts wait on the simulation's clock.
      const sim = hb.stepFunctions((step, ctx, sim) => {
        // A dead host answers a second after its 30 s timeout: it is never read in time.
        const read = hosts.readHeartbeat(() => costMs, ctx.sleep, 31_000);
        const readHost: typeof read = async (server, options) => {
          const answer = await read(server, options);
          // A dead host's read ends long after its timeout decided it: not a read.
          if (!options.signal.aborted) lastRead = Math.max(lastRead, sim.clock.now());
          return answer;
        };
        return runHeartbeatStep(onVirtualClock(deps, sim, ctx, readHost), step);
      });
      // The schedule's event, delivered twice, starts the period's execution once.
      const time = new Date(Date.UTC(2026, 10, 27, 12, 5, 3 + costMs / 1000));
      const name = heartbeatRunId(time, PERIOD_MS);
      assert.equal(name, `hb-20261127T120500Z`);
      const input = { operationId: `${name}-${costMs}`, startedAt: time.toISOString() };
      const started = Date.now();
      const begin = sim.clock.now();
      const execution = sim.startExecution({
        definition: hb.definitions.heartbeat,
        name: input.operationId,
        input,
      });
      sim.startExecution({ definition: hb.definitions.heartbeat, name: input.operationId, input });
      const result = await execution.result();
      const wallMs = Date.now() - started;
      assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));

      // Read from the loopback server's memory: the check itself is no S3 call that could fail.
      const report = hb.report(input.operationId);
      assert.deepEqual(report.summary, {
        total: HOSTS,
        healthy: HOSTS - 100,
        degraded: 0,
        down: 0,
        unreachable: 100,
        failed: 0,
        skipped: 0,
      });
      const read = new Set(hosts.touches.map((touch) => touch.server));
      assert.equal(read.size, HOSTS, 'every host read');
      assert.equal(hosts.touches.length, HOSTS, 'each once');
      assert.deepEqual(new Set(hosts.released), read, 'each host let go once read');
      assert.equal(hosts.released.length, HOSTS);
      const readWithinMs = lastRead - begin;
      const wholeMs = result.stopDate - result.startDate;
      assert.ok(
        readWithinMs < PERIOD_MS,
        `the last host was read ${readWithinMs} ms into a ${PERIOD_MS} ms period`,
      );
      assert.ok(wholeMs < PERIOD_MS, `the execution took ${wholeMs} ms`);
      const shards = taskRuns(sim, 'Shard');
      assert.ok(shards >= 2, 'the work was split into shards');
      // The period's counts, published once by the report step (no longer once a shard: a shard run
      // again published its hosts' counts again), stamped with the period's start.
      assert.equal(published.length, 1, "the period's counts published once");
      assert.deepEqual(stamps, [Date.UTC(2026, 10, 27, 12, 5, 0)]);
      const sum = (metric: string) => published.reduce((total, metrics) => total + (metrics[metric] ?? 0), 0);
      assert.equal(sum('HealthyHosts'), HOSTS - 100, 'every shard counted');
      assert.equal(sum('UnreachableHosts'), 100);
      const posts = hb.callbacks(`/heartbeat-${costMs}`);
      assert.equal(posts.length, 1, 'one report');
      assert.ok(Buffer.byteLength(posts[0]!.body) <= 1024 * 1024);
      console.log(
        `# heartbeat ${HOSTS} hosts at ${costMs} ms: ${shards} shards; last read at ${readWithinMs} ms, report at ${wholeMs} ms (virtual) of ${PERIOD_MS}; ${wallMs} ms wall`,
      );
    });
  }
});
