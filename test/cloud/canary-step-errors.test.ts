// The canary step on the SYNTHESIZED fleet-run state machine (the ASL simulation: Step Functions
// cannot run here) over the real step handlers and their real cloud peers (dynalite, the loopback
// S3 server, a callback receiver), host doubles for the targets. A canary step that fails on its
// own (the run store or the runs bucket did not answer) runs again, as a target's step does; one
// that fails for good still ends in the aggregate step: the run reports and calls back once.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';
import { cloudBackends, simulatedFleetUpgrade, simulatedStepDeps, useCloudSimulation } from './simulation.ts';

const TARGETS = 6;

describe('a canary step that fails on its own, on the simulated state machine', () => {
  const cloud = useCloudSimulation();
  let hosts: HostDoubles;
  let backends: ReturnType<typeof cloudBackends>;

  before(async () => {
    hosts = createHostDoubles(TARGETS);
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
  });

  /** Runs one fleet upgrade; `canaryFails(attempt)` says whether the canary step's nth call throws. */
  async function run(operationId: string, canaryFails: (attempt: number) => boolean) {
    let canaryCalls = 0;
    const { execution, callbacks } = await simulatedFleetUpgrade(
      { ...cloud, deps: simulatedStepDeps(hosts, backends), seed: 3 },
      operationId,
      { canary: 2 },
      async (payload, step) => {
        if (payload.step === 'canary' && canaryFails(++canaryCalls))
          throw new Error('the run store did not answer');
        return step();
      },
    );
    return { execution, callbacks, canaryCalls };
  }

  it('runs again and goes on: every target upgraded, one callback', async () => {
    const touched = hosts.touches.length;
    // Each canary step fails twice before it answers.
    const { execution, callbacks, canaryCalls } = await run(
      'op_canary_retried',
      (attempt) => attempt % 3 !== 0,
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.ok(canaryCalls >= 6, `the canary steps were called ${canaryCalls} times`);
    assert.equal(callbacks.length, 1);
    const posted = JSON.parse(callbacks[0]!.body);
    assert.equal(posted.status, 'succeeded');
    assert.equal(posted.summary.succeeded, TARGETS);
    assert.equal(hosts.touches.length - touched, TARGETS, 'each host once');
  });

  it('failing for good, still aggregates and calls back once; no host was touched', async () => {
    const touched = hosts.touches.length;
    const { execution, callbacks, canaryCalls } = await run('op_canary_broken', () => true);
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.equal(canaryCalls, 4, 'the first call and its three retries');
    assert.equal(callbacks.length, 1);
    const posted = JSON.parse(callbacks[0]!.body);
    assert.equal(posted.summary.total, TARGETS);
    assert.equal(posted.summary.skipped, TARGETS);
    assert.equal(hosts.touches.length, touched);
  });
});
