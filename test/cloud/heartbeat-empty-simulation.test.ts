// SPEC 7.2 on the SYNTHESIZED heartbeat state machine (the ASL simulation: Step Functions cannot
// run here) over the real step handlers and cloud peers: an inventory that lists no host at the
// moment (its dynamic sources list nothing) is a period with nothing to read. It is reported and
// the report POSTed once (no shard runs, and a period of no host publishes no counts); the plan
// step used to throw ("selector all picks no host") and every period's execution failed without a
// report.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import { type HeartbeatDeps, runHeartbeatStep } from '../../lib/fleet/steps/heartbeat.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import { deliverReport, publishedCounts, useHeartbeatSimulation } from './heartbeat-setup.ts';

describe('the heartbeat of a fleet with no host at the moment', () => {
  const hb = useHeartbeatSimulation();

  it('succeeds with a report of zero hosts and one callback; no shard runs, nothing is published', async () => {
    const backends = hb.backends(() => 0);
    const { metrics, published } = publishedCounts({ setTimestamp: () => {}, addDimension: () => {} });
    const deps: HeartbeatDeps = {
      fleet: createStaticFleet([]),
      blobs: backends.blobs,
      ledger: backends.ledger,
      settings: heartbeatSettings(),
      metrics,
      callbackUrl: `${hb.peers.receiver.url}/heartbeat-empty`,
      deliverReport,
    };
    const sim = hb.stepFunctions((step) => runHeartbeatStep(deps, step));
    const input = { operationId: 'hb-20261128T170000Z', startedAt: '2026-11-28T17:00:01.000Z' };
    const result = await hb.execute(sim, input);
    assert.equal(result.status, 'SUCCEEDED', JSON.stringify(result));
    const posted = hb.callbacks('/heartbeat-empty');
    assert.equal(posted.length, 1);
    assert.equal(JSON.parse(posted[0]!.body).summary.total, 0);
    assert.deepEqual(published, []);
  });
});
