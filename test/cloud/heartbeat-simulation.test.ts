// The fleet heartbeat of 10,000 hosts through the SYNTHESIZED heartbeat state machine, run by the
// ASL simulation (test/support/asl) over the real heartbeat steps (lib/fleet/steps/heartbeat.ts,
// parsed with the function's own schema), the runs bucket in the loopback S3 server, the
// delivery ledger on dynalite, and a callback receiver. Hosts are doubles answering after their
// cost; 1 % are dead (they never answer: each costs its whole timeout).
//
// Time is SCALED: every duration — host cost, host timeout, the 5-minute period, hence the
// shards' budgets — is divided by SCALE and runs on real timers, so a period of 300 s takes 6 s.
// "Every host read within the period" is measured on that clock, multiplied back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import {
  type HeartbeatDeps,
  heartbeatRunId,
  heartbeatStepSchema,
  runHeartbeatStep,
} from '../../lib/fleet/steps/heartbeat.ts';
import { routeByLogicalId, SimulatedStepFunctions, s3FromClient } from '../support/asl/index.ts';
import { createHostDoubles } from '../support/host-double.ts';
import {
  type CloudPeers,
  cloudBackends,
  type Definitions,
  startCloudPeers,
  synthesizedDefinitions,
} from './simulation.ts';

const HOSTS = 10_000;
const SCALE = 20;
const PERIOD_MS = 300_000;

describe(`the heartbeat of ${HOSTS} hosts on the simulated state machine (time scaled 1/${SCALE})`, () => {
  let definitions: Definitions;
  let peers: CloudPeers;

  before(async () => {
    definitions = synthesizedDefinitions();
    peers = await startCloudPeers(definitions.bucket);
  });
  after(() => peers?.close());

  for (const costMs of [250, 1000]) {
    it(`${costMs} ms a host, 1 % dead: every host read within the period, one report, counts per shard`, async () => {
      const hosts = createHostDoubles(HOSTS);
      for (let i = 0; i < HOSTS; i += 100) hosts.behaviour.set(hosts.names[i + 37]!, 'dead');
      const backends = cloudBackends(peers, definitions.bucket, hosts.tick);
      const published: Record<string, number>[] = [];
      let stored: Record<string, number> = {};
      const deps: HeartbeatDeps = {
        fleet: hosts.fleet,
        blobs: backends.blobs,
        ledger: backends.ledger,
        settings: {
          perHostMs: costMs / SCALE,
          hostTimeoutMs: 30_000 / SCALE,
          deadShare: 0.01,
          periodMs: PERIOD_MS / SCALE,
          hostConcurrency: 10,
          maxShards: 18,
        },
        readHost: hosts.readHeartbeat(() => costMs / SCALE),
        metrics: {
          addMetric: (name, _unit, value) => {
            stored[name] = value;
          },
          publishStoredMetrics: () => {
            published.push(stored);
            stored = {};
          },
        },
        callbackUrl: `${peers.receiver.url}/heartbeat-${costMs}`,
        deliverReport: (url, report) => deliverCallback(url, report, callbackOptionsFromEnv({}, 'test')),
      };
      const sim = new SimulatedStepFunctions({
        s3: s3FromClient(peers.s3Client),
        invoke: routeByLogicalId({
          HeartbeatFunction: (payload) => runHeartbeatStep(deps, heartbeatStepSchema.parse(payload)),
        }),
      });
      // The schedule's event, delivered twice, starts the period's execution once.
      const time = new Date(Date.UTC(2026, 10, 27, 12, 5, 3 + costMs / 1000));
      const name = heartbeatRunId(time, PERIOD_MS);
      assert.equal(name, `hb-20261127T120500Z`);
      const input = { operationId: `${name}-${costMs}`, startedAt: time.toISOString() };
      const started = Date.now();
      const execution = sim.startExecution({
        definition: definitions.heartbeat,
        name: input.operationId,
        input,
      });
      sim.startExecution({ definition: definitions.heartbeat, name: input.operationId, input });
      const lastReads: number[] = [];
      const result = await execution.result();
      const wallMs = Date.now() - started;
      assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));

      const report = JSON.parse(
        (await backends.blobs.get(`runs/heartbeats/${input.operationId}/report.json`))!,
      );
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
      lastReads.push(wallMs * SCALE);
      assert.ok(
        wallMs * SCALE < PERIOD_MS,
        `the whole heartbeat took ${wallMs * SCALE} ms of a ${PERIOD_MS} ms period`,
      );
      const shards = published.length;
      assert.ok(shards >= 2, 'the work was split into shards');
      const sum = (metric: string) => published.reduce((total, metrics) => total + (metrics[metric] ?? 0), 0);
      assert.equal(sum('HealthyHosts'), HOSTS - 100, 'each shard published its counts');
      assert.equal(sum('UnreachableHosts'), 100);
      const posts = peers.receiver.requests.filter((request) => request.path === `/heartbeat-${costMs}`);
      assert.equal(posts.length, 1, 'one report');
      assert.ok(Buffer.byteLength(posts[0]!.body) <= 1024 * 1024);
      console.log(
        `# heartbeat ${HOSTS} hosts at ${costMs} ms: ${shards} shards, ${wallMs} ms wall = ${wallMs * SCALE} ms scaled of ${PERIOD_MS}`,
      );
    });
  }
});
