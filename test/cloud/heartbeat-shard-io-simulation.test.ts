// A heartbeat shard whose own S3 call fails once — its kept record read at its start, or its record
// written at its end — still has its hosts read and reported (SPEC 7.2 v2: every host in every
// period), on the SYNTHESIZED heartbeat state machine run by the ASL simulation over the real steps,
// the runs bucket in the loopback S3 server and dynalite, in virtual time (as
// heartbeat-simulation.test.ts, small).
//
// Why: heartbeat-simulation.test.ts failed now and then on a loaded machine with whole shards'
// hosts `skipped` (3,336 = 6 shards of 556). Not the virtual clock: a shard's first S3 GET got
// "read ECONNRESET" from the loopback server (the tests' SDK clients try once), the shard step
// threw, the state machine does not run a failed shard again (only Lambda's own errors are retried
// on Shard), the Map tolerates the failure, and the report counts every host of a shard without
// a record as skipped. In AWS a call can fail past the SDK's retries too (a 500, a SlowDown).
// Here one call fails on purpose, the way the SDK fails (its error carries `$metadata`); a call
// that is slow, not failing, skips no host either.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlobStore } from '../../lib/fleet/steps/deps.ts';
import { type HeartbeatDeps, runHeartbeatStep } from '../../lib/fleet/steps/heartbeat.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import { createHostDoubles } from '../support/host-double.ts';
import {
  allHealthy,
  connectionReset,
  onVirtualClock,
  taskRuns,
  useHeartbeatSimulation,
} from './heartbeat-setup.ts';

const HOSTS = 40;

type Fault = { method: 'get' | 'put'; shard: number; times: number } | { slowMs: number };

/** `calls`: how often the faulty call was made in all (the report step reads each shard's record too). */
const cases: { title: string; fault: Fault; calls?: number }[] = [
  { title: "a shard's kept record read fails once", fault: { method: 'get', shard: 1, times: 1 }, calls: 3 },
  { title: "a shard's record write fails once", fault: { method: 'put', shard: 2, times: 1 }, calls: 2 },
  {
    title: "a shard's kept record cannot be read on any try",
    fault: { method: 'get', shard: 3, times: 4 },
    calls: 5,
  },
  { title: "every shard's record read and write is slow (real time)", fault: { slowMs: 300 } },
];

describe('a heartbeat shard whose own S3 call fails still reads and reports its hosts (virtual time)', () => {
  const hb = useHeartbeatSimulation();

  for (const [index, { title, fault, calls }] of cases.entries()) {
    it(`${title}: every host read once, none skipped`, async () => {
      const operationId = `hb-shard-io-${index}`;
      const hosts = createHostDoubles(HOSTS);
      const backends = hb.backends(hosts.tick);
      const shardKey = (shard: number) => `runs/heartbeats/${operationId}/shard-${shard}.json`;
      let faulted = 0;
      const seen = new Map<string, number>();
      const blobs: BlobStore = {
        ...backends.blobs,
        get: async (key) => {
          await around('get', key);
          return backends.blobs.get(key);
        },
        put: async (key, body) => {
          await around('put', key);
          return backends.blobs.put(key, body);
        },
      };
      async function around(method: 'get' | 'put', key: string) {
        const tries = (seen.get(`${method} ${key}`) ?? 0) + 1;
        seen.set(`${method} ${key}`, tries);
        if ('slowMs' in fault) {
          if (/\/shard-\d+\.json$/.test(key))
            await new Promise((resolve) => setTimeout(resolve, fault.slowMs));
        } else if (method === fault.method && key === shardKey(fault.shard) && tries <= fault.times) {
          faulted += 1;
          throw connectionReset();
        }
      }
      const warnings: Record<string, unknown>[] = [];
      const deps: HeartbeatDeps = {
        fleet: hosts.fleet,
        blobs,
        ledger: backends.ledger,
        logger: { info: () => {}, warn: (message, attributes) => warnings.push({ message, ...attributes }) },
        settings: heartbeatSettings({ maxShards: 4 }),
      };
      const sim = hb.stepFunctions((step, ctx, sim) =>
        runHeartbeatStep(
          onVirtualClock(
            deps,
            sim,
            ctx,
            hosts.readHeartbeat(() => 1000, ctx.sleep),
          ),
          step,
        ),
      );
      const result = await hb.execute(sim, {
        operationId,
        startedAt: new Date(sim.clock.now()).toISOString(),
      });
      assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));
      assert.ok(result.stopDate - result.startDate < 300_000, 'within the period');
      assert.equal(taskRuns(sim, 'Shard'), 4, 'four shards of ten, each run once');
      const report = hb.report(operationId);
      assert.deepEqual(report.summary, allHealthy(HOSTS));
      const failures = sim.events.filter((event) => /Failed|Aborted|TimedOut/.test(event.type));
      assert.deepEqual(failures, [], 'no step failed');
      assert.deepEqual(
        report.hosts.map((host: { server: string }) => host.server),
        hosts.names,
        'every host, in inventory order',
      );
      assert.deepEqual(hosts.touches.map((touch) => touch.server).sort(), hosts.names, 'each host read once');
      if ('method' in fault) {
        assert.equal(faulted, fault.times, 'the call failed as often as it was made to');
        assert.equal(seen.get(`${fault.method} ${shardKey(fault.shard)}`), calls, 'and was tried again');
      }
      if ('method' in fault && fault.times > 1) {
        assert.equal(warnings.length, 1, 'the unreadable record is logged');
        assert.equal(warnings[0]!.shard, fault.shard);
      } else assert.deepEqual(warnings, []);
    });
  }
});
