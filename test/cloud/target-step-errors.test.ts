// A Map child's target step that fails for good, on the SYNTHESIZED fleet-run state machine (the
// ASL simulation: Step Functions cannot run here) over the real step handlers and their real cloud
// peers (dynalite, the loopback S3 server, a callback receiver), host doubles for the targets.
// Its failure counts toward maxErrors (SPEC 4) before later targets pass the gate; throttled to the
// end, it never ran and is skipped, uncounted.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { LambdaServiceError } from '../support/asl/index.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';
import { cloudBackends, simulatedFleetUpgrade, simulatedStepDeps, useCloudSimulation } from './simulation.ts';

const TARGETS = 6;
/** The target whose every step fails. */
const BROKEN = 1;

describe('a target step that fails for good, on the simulated state machine', () => {
  const cloud = useCloudSimulation();
  let hosts: HostDoubles;
  let backends: ReturnType<typeof cloudBackends>;

  before(async () => {
    hosts = createHostDoubles(TARGETS);
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
  });

  /** One fleet upgrade, one target at a time; every `target` step of BROKEN throws `failure()`. */
  async function run(operationId: string, maxErrors: number, failure: () => Error) {
    const deps = simulatedStepDeps(hosts, backends);
    let brokenCalls = 0;
    const touched = hosts.touches.length;
    const { execution, callbacks } = await simulatedFleetUpgrade(
      { ...cloud, deps, seed: 5 },
      operationId,
      { canary: 0, maxConcurrency: 1, maxErrors },
      async (payload, step) => {
        if (payload.step === 'target' && payload.item?.index === BROKEN) {
          brokenCalls += 1;
          throw failure();
        }
        return step();
      },
    );
    return { execution, callbacks, brokenCalls, touched: hosts.touches.slice(touched) };
  }

  it('counts its failure: with maxErrors 0, no later target starts', async () => {
    const { execution, callbacks, brokenCalls, touched } = await run(
      'op_target_broken',
      0,
      () => new Error('the run store did not answer'),
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.equal(brokenCalls, 4, 'the first call and its three retries');
    assert.deepEqual(
      touched.map((t) => t.server),
      [hosts.names[0]],
      'only the target before the broken one was worked',
    );
    assert.equal(callbacks.length, 1);
    const posted = JSON.parse(callbacks[0]!.body);
    assert.deepEqual(posted.summary, { total: TARGETS, succeeded: 1, failed: 1, unreachable: 0, skipped: 4 });
    const broken = posted.targets.find((t: { server: string }) => t.server === hosts.names[BROKEN]);
    assert.equal(broken.status, 'failed');
    assert.equal(broken.error.code, 'INTERNAL');
    assert.match(broken.error.message, /its step failed: Error: .*the run store did not answer/);
    const record = await backends.store.get('op_target_broken');
    assert.equal(record?.failures, 1, 'counted once');
  });

  it('throttled to the end after an earlier try began the work: failed, counted, not skipped', async () => {
    const deps = simulatedStepDeps(hosts, backends);
    const put = deps.blobs.put.bind(deps.blobs);
    let lostReport = false;
    // The first try works the host, then cannot keep its report; every retry is throttled.
    deps.blobs = {
      ...deps.blobs,
      put: async (key: string, body: string) => {
        if (!lostReport && key.endsWith(`/reports/${BROKEN}.json`)) {
          lostReport = true;
          throw new Error('S3 did not answer');
        }
        return put(key, body);
      },
    };
    let calls = 0;
    const touched = hosts.touches.length;
    const { execution, callbacks } = await simulatedFleetUpgrade(
      { ...cloud, deps, seed: 5 },
      'op_target_worked_throttled',
      { canary: 0, maxConcurrency: 1, maxErrors: 0 },
      async (payload, step) => {
        if (payload.step === 'target' && payload.item?.index === BROKEN && ++calls > 1)
          throw new LambdaServiceError('TooManyRequestsException', 'Rate exceeded');
        return step();
      },
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.ok(lostReport);
    assert.deepEqual(
      hosts.touches.slice(touched).map((t) => t.server),
      [hosts.names[0], hosts.names[BROKEN]],
      'the broken target was worked; nothing after it started',
    );
    const posted = JSON.parse(callbacks[0]!.body);
    assert.equal(posted.targets[BROKEN].status, 'failed');
    assert.equal(posted.targets[BROKEN].error.code, 'INTERNAL');
    assert.deepEqual(posted.summary, { total: TARGETS, succeeded: 1, failed: 1, unreachable: 0, skipped: 4 });
  });

  it('throttled to the end: skipped, not counted, and the run goes on', async () => {
    const { execution, callbacks, touched } = await run(
      'op_target_throttled',
      0,
      () => new LambdaServiceError('TooManyRequestsException', 'Rate exceeded'),
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.equal(touched.length, TARGETS - 1, 'every other target was worked');
    assert.equal(callbacks.length, 1);
    const posted = JSON.parse(callbacks[0]!.body);
    assert.deepEqual(posted.summary, {
      total: TARGETS,
      succeeded: TARGETS - 1,
      failed: 0,
      unreachable: 0,
      skipped: 1,
    });
    const record = await backends.store.get('op_target_throttled');
    assert.equal(record?.failures ?? 0, 0);
  });
});
