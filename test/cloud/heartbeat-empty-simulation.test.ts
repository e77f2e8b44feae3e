// SPEC 7.2 on the SYNTHESIZED heartbeat state machine (the ASL simulation: Step Functions cannot
// run here) over the real step handlers and cloud peers: an inventory that lists no host at the
// moment (its dynamic sources list nothing) is a period with nothing to read. It is reported and
// the report POSTed once (no shard runs, and a period of no host publishes no counts); the plan
// step used to throw ("selector all picks no host") and every period's execution failed without a
// report.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import {
  type HeartbeatDeps,
  heartbeatStepSchema,
  runHeartbeatStep,
} from '../../lib/fleet/steps/heartbeat.ts';
import { routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import {
  type CloudPeers,
  cloudBackends,
  type Definitions,
  simulatedS3,
  startCloudPeers,
  synthesizedDefinitions,
} from './simulation.ts';

describe('the heartbeat of a fleet with no host at the moment', () => {
  let definitions: Definitions;
  let peers: CloudPeers;

  before(async () => {
    definitions = synthesizedDefinitions();
    peers = await startCloudPeers(definitions.bucket);
  });
  after(() => peers?.close());

  it('succeeds with a report of zero hosts and one callback; no shard runs, nothing is published', async () => {
    const backends = cloudBackends(peers, definitions.bucket, () => 0);
    const published: Record<string, number>[] = [];
    let stored: Record<string, number> = {};
    const deps: HeartbeatDeps = {
      fleet: createStaticFleet([]),
      blobs: backends.blobs,
      ledger: backends.ledger,
      settings: {
        perHostMs: 1000,
        hostTimeoutMs: 30_000,
        deadShare: 0.01,
        periodMs: 300_000,
        hostConcurrency: 10,
        maxShards: 18,
      },
      metrics: {
        addMetric: (name, _unit, value) => {
          stored[name] = value;
        },
        publishStoredMetrics: () => {
          published.push(stored);
          stored = {};
        },
        setTimestamp: () => {},
        addDimension: () => {},
      },
      callbackUrl: `${peers.receiver.url}/heartbeat-empty`,
      deliverReport: (url, report) => deliverCallback(url, report, callbackOptionsFromEnv({}, 'test')),
    };
    const sim = new SimulatedStepFunctions({
      s3: simulatedS3(peers, definitions),
      invoke: routeByLogicalId({
        HeartbeatFunction: (payload) => runHeartbeatStep(deps, heartbeatStepSchema.parse(payload)),
      }),
    });
    const input = { operationId: 'hb-20261128T170000Z', startedAt: '2026-11-28T17:00:01.000Z' };
    const result = await sim
      .startExecution({ definition: definitions.heartbeat, name: input.operationId, input })
      .result();
    assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));
    const posted = peers.receiver.requests.filter((r) => r.path === '/heartbeat-empty');
    assert.equal(posted.length, 1);
    assert.equal(JSON.parse(posted[0]!.body).summary.total, 0);
    assert.deepEqual(published, []);
  });
});
