// The canary stage on the SYNTHESIZED fleet-run state machine (the ASL simulation: Step Functions
// cannot run here) over the real step handlers and cloud peers, host doubles for the targets. An
// unreachable canary is replaced by the next target (SPEC 4); a selection that opens with many
// unreachable hosts is gone through several to a step, not one state machine step each: at about 7
// history events a step, 3,570 of them used to spend the execution's 25,000 events, and the run
// failed without reporting or calling back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UNREACHABLE_CANARIES_PER_STEP } from '../../lib/fleet/steps/target-step.ts';
import { createHostDoubles } from '../support/host-double.ts';
import { cloudBackends, simulatedFleetUpgrade, simulatedStepDeps, useCloudSimulation } from './simulation.ts';

const TARGETS = 300;
const UNREACHABLE = 250;

describe('a canary stage that opens with many unreachable hosts', () => {
  const cloud = useCloudSimulation();

  it('tries several to a step; the first reachable ones are the canaries; one callback', async () => {
    const hosts = createHostDoubles(TARGETS);
    for (let i = 0; i < UNREACHABLE; i++) hosts.behaviour.set(hosts.names[i]!, 'unreachable');
    const backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
    let canarySteps = 0;
    const { execution, callbacks } = await simulatedFleetUpgrade(
      { ...cloud, deps: simulatedStepDeps(hosts, backends), seed: 2 },
      'op_canary_unreachable',
      { canary: 2, maxConcurrency: 25 },
      async (payload, step) => {
        if (payload.step === 'canary') canarySteps += 1;
        return step();
      },
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    // 250 unreachable ones, UNREACHABLE_CANARIES_PER_STEP a step, then the two canaries.
    const expected = Math.ceil(UNREACHABLE / UNREACHABLE_CANARIES_PER_STEP) + 2;
    assert.ok(canarySteps <= expected, `${canarySteps} canary steps (at most ${expected})`);
    assert.equal(callbacks.length, 1);
    const posted = JSON.parse(callbacks[0]!.body);
    assert.deepEqual(posted.summary, {
      total: TARGETS,
      succeeded: TARGETS - UNREACHABLE,
      failed: 0,
      unreachable: UNREACHABLE,
      skipped: 0,
    });
    assert.equal(posted.targets[UNREACHABLE].status, 'succeeded');
  });
});
