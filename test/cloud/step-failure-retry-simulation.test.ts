// A step of the execution itself that fails once on its own — the run table or the runs bucket did
// not answer, past the SDK's retries — and then answers: the SYNTHESIZED state machines (the asl
// simulation) run it again, and the run still ends with one callback. Only Lambda's service errors
// were retried on Plan, Aggregate, Poll, Deliver, HeartbeatPlan and HeartbeatReport, so one such
// failure failed the whole execution: no callback, and a fleet run's record stayed `running`.
// Each step is idempotent (infra/state-machines.ts says why, step by step).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import {
  type HeartbeatDeps,
  heartbeatStepSchema,
  runHeartbeatStep,
} from '../../lib/fleet/steps/heartbeat.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import { createHostDoubles } from '../support/host-double.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import {
  cloudBackends,
  simulatedFleetUpgrade,
  simulatedS3,
  simulatedStepDeps,
  useCloudSimulation,
} from './simulation.ts';

/** What a step throws when the run table throttled past the SDK's own retries. */
const throttled = () => new Error('ProvisionedThroughputExceededException: the run table throttled');

describe('a step that fails once on its own is run again (simulated state machines)', () => {
  const cloud = useCloudSimulation();

  for (const failing of ['plan', 'aggregate'] as const) {
    it(`fleet run: ${failing} fails once, the run still ends, recorded, with one callback`, async () => {
      const hosts = createHostDoubles(5);
      const backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
      const operationId = `op_retry_${failing}`;
      let calls = 0;
      const { execution, callbacks } = await simulatedFleetUpgrade(
        { ...cloud, deps: simulatedStepDeps(hosts, backends), seed: 3 },
        operationId,
        { canary: 1 },
        async (payload, step) => {
          if (payload.step === failing && ++calls === 1) throw throttled();
          return step();
        },
      );
      assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
      assert.equal(calls, 2, 'failed once, then answered');
      assert.equal(callbacks.length, 1);
      assert.equal(JSON.parse(callbacks[0]!.body).summary.succeeded, 5);
      assert.equal(hosts.touches.length, 5, 'each host upgraded once');
      assert.equal((await backends.store.get(operationId))?.status, 'succeeded');
    });
  }

  describe('operation', () => {
    let sandbox: Sandbox;
    let fleet: Fleet;
    before(() => {
      sandbox = createSandbox();
      fleet = createStaticFleet([
        { groups: ['edge'], target: sandbox.host(createLocalTransport({ target: 'web-1' }), 'web-1') },
      ]);
    });
    after(async () => {
      await fleet?.close();
      sandbox?.cleanup();
    });

    for (const failing of ['operation-poll', 'operation-deliver'] as const) {
      it(`${failing} fails once: the operation is still delivered, once`, async () => {
        const operationId = `op_retry_${failing.replace('operation-', '')}`;
        const request = { command: 'product.upgrade', product: 'deepfiler', version: '9.9.9' } as const;
        await runCommand(fleet.target('web-1'), { ...request, operationId });
        const deps: StepDeps = {
          fleet,
          store: createMemoryRunStore(),
          ledger: createMemoryDeliveryLedger(),
          blobs: createMemoryBlobStore(),
          deliver: (url, result) =>
            deliverCallback(url, result, { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5 }),
        };
        let calls = 0;
        const sim = new SimulatedStepFunctions({
          seed: 3,
          s3: simulatedS3(cloud.peers, cloud.definitions),
          invoke: routeByLogicalId({
            WorkerFunction: async (payload) => {
              const step = workerStepSchema.parse(payload);
              if (step.step === failing && ++calls === 1) throw throttled();
              return runWorkerStep(deps, step);
            },
          }),
        });
        const execution = await sim
          .startExecution({
            definition: cloud.definitions.operation,
            name: operationId,
            input: {
              operationId,
              server: 'web-1',
              request: { ...request },
              callbackUrl: `${cloud.peers.receiver.url}/${operationId}`,
              startedAt: sim.clock.iso(),
            },
          })
          .result();
        assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
        assert.equal(calls, 2, 'failed once, then answered');
        const callbacks = cloud.peers.receiver.requests.filter((r) => r.path === `/${operationId}`);
        assert.equal(callbacks.length, 1);
        assert.equal(JSON.parse(callbacks[0]!.body).status, 'succeeded');
      });
    }
  });

  for (const failing of ['heartbeat-plan', 'heartbeat-report'] as const) {
    it(`heartbeat: ${failing} fails once, the report is still made and POSTed once`, async () => {
      const hosts = createHostDoubles(20);
      const backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
      const operationId = `hb-retry-${failing}`;
      const deps: HeartbeatDeps = {
        fleet: hosts.fleet,
        blobs: backends.blobs,
        ledger: backends.ledger,
        settings: {
          perHostMs: 100,
          hostTimeoutMs: 30_000,
          deadShare: 0.01,
          periodMs: 300_000,
          hostConcurrency: 10,
          maxShards: 4,
        },
        callbackUrl: `${cloud.peers.receiver.url}/${operationId}`,
        deliverReport: (url, report) => deliverCallback(url, report, callbackOptionsFromEnv({}, 'test')),
      };
      let calls = 0;
      const sim: SimulatedStepFunctions = new SimulatedStepFunctions({
        seed: 3,
        s3: simulatedS3(cloud.peers, cloud.definitions),
        invoke: routeByLogicalId({
          HeartbeatFunction: (payload, ctx) => {
            const step = heartbeatStepSchema.parse(payload);
            if (step.step === failing && ++calls === 1) throw throttled();
            return runHeartbeatStep(
              {
                ...deps,
                clock: () => sim.clock.now(),
                sleep: ctx.sleep,
                readHost: hosts.readHeartbeat(() => 100, ctx.sleep),
              },
              step,
            );
          },
        }),
      });
      const execution = await sim
        .startExecution({
          definition: cloud.definitions.heartbeat,
          name: operationId,
          input: { operationId, startedAt: new Date(sim.clock.now()).toISOString() },
        })
        .result();
      assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
      assert.equal(calls, 2, 'failed once, then answered');
      const callbacks = cloud.peers.receiver.requests.filter((r) => r.path === `/${operationId}`);
      assert.equal(callbacks.length, 1);
      assert.equal(JSON.parse(callbacks[0]!.body).summary.healthy, 20);
    });
  }
});
