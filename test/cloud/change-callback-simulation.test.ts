// The SYNTHESIZED ChangeCallback state machine (a quick change's callback, lib/fleet/steps/change.ts)
// run by the asl simulation over the real step, the runs bucket on the loopback S3, the delivery
// ledger on dynalite and a real receiver: the result the API function kept is POSTed once, a
// throttled or failed step runs again without a second POST, and a result that is missing or is
// another change's is never POSTed: the step fails until its retries are spent, then the
// execution (the ChangeCallback alarm).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate } from '../../lib/fleet/aggregate.ts';
import { type ChangeCallback, changeResultKey } from '../../lib/fleet/steps/change.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { LambdaServiceError, routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import { createHostDoubles } from '../support/host-double.ts';
import { cloudBackends, simulatedS3, simulatedStepDeps, useCloudSimulation } from './simulation.ts';

describe('a quick change’s callback on the simulated ChangeCallback machine', () => {
  const cloud = useCloudSimulation();

  /** A change's result as the API function keeps it (SPEC 4's aggregated result of one target). */
  const keep = (operationId: string, server: string, mode: string) => {
    const result = aggregate({
      operationId,
      command: 'server.mode',
      args: { mode },
      startedAt: new Date('2026-11-28T12:00:00.000Z'),
      finishedAt: new Date('2026-11-28T12:00:00.250Z'),
      targets: [{ server, status: 'succeeded', result: { mode } }],
    });
    const body = JSON.stringify(result);
    cloud.peers.s3.put(cloud.definitions.bucket, changeResultKey(operationId), body);
    return body;
  };

  /** Runs one execution; every worker invocation goes through `intercept`. */
  const run = async (
    input: ChangeCallback,
    intercept: (step: () => Promise<unknown>, attempt: number) => Promise<unknown> = (step) => step(),
  ) => {
    const hosts = createHostDoubles(1);
    const deps = simulatedStepDeps(hosts, cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick));
    let attempts = 0;
    const sim = new SimulatedStepFunctions({
      s3: simulatedS3(cloud.peers, cloud.definitions),
      seed: 5,
      invoke: routeByLogicalId({
        WorkerFunction: (payload) => {
          attempts += 1;
          return intercept(() => runWorkerStep(deps, workerStepSchema.parse(payload)), attempts);
        },
      }),
    });
    const execution = await sim
      .startExecution({ definition: cloud.definitions.change, name: input.operationId, input })
      .result();
    const callbacks = cloud.peers.receiver.requests.filter((r) => r.path === `/${input.operationId}`);
    return { execution, callbacks, attempts, hosts };
  };

  it('POSTs the kept result once, as it was kept; throttling and a step failed after its POST are retried', async () => {
    const operationId = 'op_change_sim_1';
    const body = keep(operationId, 'web-1', 'drain');
    const input = { operationId, server: 'web-1', callbackUrl: `${cloud.peers.receiver.url}/${operationId}` };
    const { execution, callbacks, attempts, hosts } = await run(input, async (step, attempt) => {
      if (attempt === 1) throw new LambdaServiceError('TooManyRequestsException', 'Rate exceeded');
      const answer = await step();
      if (attempt === 2) throw new Error('the function died after its POST');
      return answer;
    });
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    assert.equal(attempts, 3, 'throttled, failed after its POST, then answered');
    assert.equal(callbacks.length, 1, 'one POST');
    assert.equal(callbacks[0]!.body, body, 'the kept result, byte for byte');
    assert.equal(callbacks[0]!.headers['idempotency-key'], operationId);
    assert.deepEqual((execution.output as { delivered: unknown }).delivered, {
      operationId,
      status: 'succeeded',
      callback: { delivered: true, attempts: 1 },
    });
    assert.equal(hosts.touches.length, 0, 'no host is reached to deliver');
  });

  it('a missing result, or another change’s, is never POSTed: the execution fails', async () => {
    // Nothing kept under this id.
    const missing = await run({
      operationId: 'op_change_sim_missing',
      server: 'web-1',
      callbackUrl: `${cloud.peers.receiver.url}/op_change_sim_missing`,
    });
    assert.equal(missing.execution.status, 'FAILED');
    assert.match(String(missing.execution.cause), /no result to deliver/);
    assert.ok(missing.attempts > 1, 'the step was tried again before the execution failed');
    assert.equal(missing.callbacks.length, 0);

    // A result kept for another server under this id (not this change's).
    keep('op_change_sim_other', 'web-2', 'drain');
    const other = await run({
      operationId: 'op_change_sim_other',
      server: 'web-1',
      callbackUrl: `${cloud.peers.receiver.url}/op_change_sim_other`,
    });
    assert.equal(other.execution.status, 'FAILED');
    assert.match(String(other.execution.cause), /is not this change's result/);
    assert.equal(other.callbacks.length, 0);
  });
});
