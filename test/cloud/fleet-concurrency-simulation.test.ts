// SPEC 7.3 v2: "fleet runs never ask for more concurrent work than the functions' reserved
// concurrency allows" — across runs, not only within one. Three fleet runs side by side on the
// SYNTHESIZED fleet-run state machine, run by the ASL simulation (Step Functions cannot run here)
// over the real worker steps, with the worker's concurrency pool on dynalite: at no moment are
// more canaries and targets in flight, over all runs, than the pool holds; each run still ends
// with every target upgraded and its callback. The same runs without the pool ask for more, which
// is what the pool is for. Then a run aborted in its Map: its units stay held until the
// FleetRunEnded rule's event — shaped by the synthesized rule's own input transformer — reaches
// the worker, and the run that waited for them goes on.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { createDynamoConcurrencyPool } from '../../lib/cloud/dynamo-concurrency-pool.ts';
import { executionEnded } from '../../lib/cloud/start-run.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import { type ConcurrencyPool, WORKER_POOL } from '../../lib/fleet/concurrency-pool.ts';
import type { StepDeps } from '../../lib/fleet/steps/deps.ts';
import { INVOCATION_TAIL_MS } from '../../lib/fleet/steps/reserve.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { type Execution, routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';
import { createTestSfnClient, startSfnServer } from '../support/sfn-server.ts';
import {
  cloudBackends,
  simulatedS3,
  simulatedStepDeps,
  transformedInput,
  useCloudSimulation,
} from './simulation.ts';

const HOSTS = 24;
/** The pool: the worker's reserved concurrency less the steps' headroom. */
const CAPACITY = 6;
/** The steps that work a target (a canary or a Map child): what the pool bounds. */
const TARGET_STEPS = new Set(['canary', 'target']);

describe('fleet runs side by side share the worker’s concurrency (simulated state machine)', () => {
  const cloud = useCloudSimulation();
  let hosts: HostDoubles;
  let backends: ReturnType<typeof cloudBackends>;

  before(async () => {
    hosts = createHostDoubles(HOSTS, { delayMs: () => 5 });
  });

  /** A simulation whose worker counts the target steps in flight over every execution. */
  function simulation(
    deps: StepDeps,
    seed: number,
    onStep?: (payload: Payload, answer: unknown) => Promise<void>,
  ) {
    const flight = { now: 0, most: 0 };
    const sim = new SimulatedStepFunctions({
      s3: simulatedS3(cloud.peers, cloud.definitions),
      seed,
      invoke: routeByLogicalId({
        WorkerFunction: async (payload) => {
          const step = (payload as Payload).step ?? '';
          const counted = TARGET_STEPS.has(step);
          if (counted) flight.most = Math.max(flight.most, ++flight.now);
          try {
            const answer = await runWorkerStep(deps, workerStepSchema.parse(payload));
            await onStep?.(payload as Payload, answer);
            return answer;
          } finally {
            if (counted) flight.now -= 1;
          }
        },
      }),
    });
    return { sim, flight };
  }

  const start = (sim: SimulatedStepFunctions, operationId: string, request: Record<string, unknown>) =>
    sim.startExecution({
      definition: cloud.definitions.fleet,
      name: operationId,
      input: {
        operationId,
        startedAt: sim.clock.iso(),
        request: {
          select: 'all',
          product: 'deepfiler',
          version: '3.2.1',
          maxConcurrency: CAPACITY,
          callbackUrl: cloud.peers.receiver.url,
          ...request,
        },
      },
    });

  const callbackOf = (operationId: string): FleetResult => {
    const posts = cloud.peers.receiver.requests.filter((r) => JSON.parse(r.body).operationId === operationId);
    assert.equal(posts.length, 1, `${operationId}: one callback`);
    return JSON.parse(posts[0]!.body) as FleetResult;
  };

  const holdings = async (tableName: string) => {
    const answer = await cloud.peers.dynamo.client().send(
      new GetItemCommand({
        TableName: tableName,
        Key: marshall({ id: `pool#${WORKER_POOL}` }),
        ConsistentRead: true,
      }),
    );
    return answer.Item === undefined
      ? undefined
      : (unmarshall(answer.Item)['holdings'] as Record<string, unknown>);
  };

  const entered = (execution: Execution, state: string) =>
    execution.events.filter((e) => e.type === 'StateEntered' && e.state === state).length;

  /** The worker's pool on a table of its own, its leases on the simulation's clock. */
  const poolOn = (tableName: string, clock: () => SimulatedStepFunctions) =>
    createDynamoConcurrencyPool({
      client: cloud.peers.dynamo.client(),
      tableName,
      name: WORKER_POOL,
      now: () => clock().clock.now(),
    });

  it('never has more targets in flight over all runs than the pool, and every run ends upgraded', async () => {
    const tableName = await cloud.peers.dynamo.createTable();
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
    let made!: ReturnType<typeof simulation>;
    const pool = poolOn(tableName, () => made.sim);
    const deps = { ...simulatedStepDeps(hosts, backends), concurrencyCap: CAPACITY, pool };
    made = simulation(deps, 3);
    const { sim, flight } = made;
    const ids = ['op_side1', 'op_side2', 'op_side3'];
    const runs = ids.map((id, i) => start(sim, id, { canary: i }));
    const results = await Promise.all(runs.map((run) => run.result()));
    for (const [i, result] of results.entries()) assert.equal(result.status, 'SUCCEEDED', ids[i]);
    assert.ok(
      flight.most <= CAPACITY,
      `${flight.most} targets in flight at once, the pool holds ${CAPACITY}`,
    );
    assert.ok(flight.most >= CAPACITY - 1, `the pool was used, not left idle (${flight.most} at most)`);
    for (const id of ids) {
      const result = callbackOf(id);
      assert.equal(result.status, 'succeeded', id);
      assert.equal(result.summary.succeeded, HOSTS, id);
    }
    assert.ok(
      runs.some((run) => entered(run, 'WaitForSlots') > 0),
      'a run waited for units another run held',
    );
    // GET /fleet/operations/{id}: a run that waited said so (`waiting`), and no longer does (null);
    // one that never waited has no such field.
    for (const run of runs) {
      const record = await backends.store.get(run.name);
      assert.equal(record?.waiting, entered(run, 'WaitForSlots') > 0 ? null : undefined, run.name);
    }
    assert.deepEqual(await holdings(tableName), {}, 'every run gave its units back');
  });

  it('the same runs without the pool ask for more than it holds', async () => {
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
    const deps = { ...simulatedStepDeps(hosts, backends), concurrencyCap: CAPACITY, pool: undefined };
    const { sim, flight } = simulation(deps, 3);
    const runs = ['op_nopool1', 'op_nopool2', 'op_nopool3'].map((id) => start(sim, id, { canary: 0 }));
    for (const result of await Promise.all(runs.map((run) => run.result()))) {
      assert.equal(result.status, 'SUCCEEDED');
    }
    assert.ok(flight.most > CAPACITY, `${flight.most} in flight: each Map alone stays at ${CAPACITY}`);
  });

  it('an aborted run gives its units back through the FleetRunEnded rule once its invocations may have ended, and the waiting run goes on', async () => {
    const tableName = await cloud.peers.dynamo.createTable();
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
    let sim!: SimulatedStepFunctions;
    const pool: ConcurrencyPool = poolOn(tableName, () => sim);
    const deps: StepDeps = { ...simulatedStepDeps(hosts, backends), concurrencyCap: CAPACITY, pool };
    const rule = cloud.definitions.runEnded;
    let aborted: Execution | undefined;
    let waiting: Execution | undefined;
    let ungranted = 0;
    let heldAtRelease: Record<string, unknown> | undefined;
    let releasedAt = 0;
    let grantedAt = 0;
    const made = simulation(deps, 5, async (payload, answer) => {
      if (payload.step === 'target' && payload.operationId === 'op_aborted' && !waiting) {
        // The first run is in its Map, holding the whole pool: an operator stops it, and a
        // second run starts.
        aborted!.stop('States.Aborted', 'stopped by an operator');
        waiting = start(sim, 'op_waiting', { canary: 0 });
      }
      const granted = (answer as { granted?: number }).granted;
      if (payload.step === 'reserve' && payload.run?.operationId === 'op_waiting' && granted! > 0) {
        grantedAt = sim.clock.now();
      }
      if (payload.step === 'reserve' && payload.run?.operationId === 'op_waiting' && granted === 0) {
        ungranted += 1;
        if (ungranted === 2) {
          // EventBridge reports the aborted execution's end; the rule hands the worker its event.
          heldAtRelease = await holdings(tableName);
          releasedAt = sim.clock.now();
          const event = {
            version: '0',
            id: 'c1d7d8b4-8b11-4d5b-9a3e-2f5b1a1f0c11',
            'detail-type': 'Step Functions Execution Status Change',
            source: 'aws.states',
            account: '123456789012',
            time: sim.clock.iso(),
            region: 'us-east-1',
            resources: [aborted!.executionArn],
            detail: {
              executionArn: aborted!.executionArn,
              stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:FleetRun',
              name: aborted!.name,
              status: aborted!.status,
              startDate: aborted!.startDate,
              stopDate: sim.clock.now(),
              input: aborted!.inputJson,
              output: null,
            },
          };
          assert.ok(rule.eventPattern.detail.status.includes(event.detail.status));
          await runWorkerStep(
            deps,
            workerStepSchema.parse(transformedInput(rule.target.InputTransformer, event)),
          );
        }
      }
    });
    sim = made.sim;
    aborted = start(sim, 'op_aborted', { canary: 0 });
    assert.equal((await aborted.result()).status, 'ABORTED');
    while (!waiting) await new Promise((resolve) => setTimeout(resolve, 5));
    const result = await waiting.result();
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(
      Object.keys(heldAtRelease ?? {}),
      ['op_aborted'],
      'the aborted run held its units until then',
    );
    // Its units came back 15 minutes after the event: the aborted run's invocations could run
    // that long. The waiting run asked on (10 s, growing to 5 minutes) and got them then.
    assert.ok(ungranted > 2, `${ungranted} ungranted asks`);
    assert.ok(grantedAt >= releasedAt + INVOCATION_TAIL_MS, 'not before the invocations could have ended');
    assert.ok(grantedAt <= releasedAt + INVOCATION_TAIL_MS + 300_000, 'within one wait after that');
    assert.equal(callbackOf('op_waiting').summary.succeeded, HOSTS);
    assert.deepEqual(await holdings(tableName), {});
  });

  it('an aborted run whose end event was lost: the waiting run asks Step Functions, and goes on', async () => {
    const tableName = await cloud.peers.dynamo.createTable();
    backends = cloudBackends(cloud.peers, cloud.definitions.bucket, hosts.tick);
    const sfnServer = await startSfnServer();
    const client = createTestSfnClient(sfnServer);
    try {
      let sim!: SimulatedStepFunctions;
      const deps: StepDeps = {
        ...simulatedStepDeps(hosts, backends),
        concurrencyCap: CAPACITY,
        pool: poolOn(tableName, () => sim),
        // The worker's own lookup (functions/composition.ts), through the real SFNClient.
        executionEnded: (arn) => executionEnded(client, arn),
      };
      let aborted!: Execution;
      let waiting: Execution | undefined;
      let heldWhenShort: Record<string, unknown> | undefined;
      let abortedAt = 0;
      let grantedAt = 0;
      let leaseAfterLookup: number | undefined;
      const made = simulation(deps, 9, async (payload, answer) => {
        if (payload.step === 'reserve' && payload.run?.operationId === 'op_after_lost') {
          const granted = (answer as { granted: number }).granted;
          if (granted > 0 && grantedAt === 0) grantedAt = sim.clock.now();
          if (granted === 0 && leaseAfterLookup === undefined) {
            const held = (await holdings(tableName))?.['op_lost'] as { until: number } | undefined;
            leaseAfterLookup = held?.until;
          }
        }
        if (payload.step === 'target' && payload.operationId === 'op_lost' && !waiting) {
          aborted.stop('States.Aborted', 'stopped by an operator');
          abortedAt = sim.clock.now();
          // Step Functions knows it ended, and when; EventBridge never delivers the event.
          sfnServer.executions.set(aborted.executionArn, {
            stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:FleetRun',
            name: aborted.name,
            input: aborted.inputJson,
            executionArn: aborted.executionArn,
            status: 'ABORTED',
            stopDate: abortedAt / 1000,
          });
          heldWhenShort = Object.fromEntries(
            Object.entries((await holdings(tableName)) ?? {}).map(([k, v]) => [
              k,
              (v as { execution?: string }).execution,
            ]),
          );
          waiting = start(sim, 'op_after_lost', { canary: 0 });
        }
      });
      sim = made.sim;
      aborted = start(sim, 'op_lost', { canary: 0 });
      assert.equal((await aborted.result()).status, 'ABORTED');
      while (!waiting) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await waiting.result()).status, 'SUCCEEDED');
      assert.deepEqual(heldWhenShort, { op_lost: aborted.executionArn }, 'held with its execution’s ARN');
      // The first short ask looked the holder up and shortened its lease to 15 minutes after its
      // end (its invocations could run that long); the run got the units then.
      assert.equal(leaseAfterLookup, abortedAt + INVOCATION_TAIL_MS, 'the lease ends with the invocations');
      assert.ok(entered(waiting, 'WaitForSlots') > 0);
      assert.ok(grantedAt >= abortedAt + INVOCATION_TAIL_MS, 'not before the invocations could have ended');
      assert.ok(grantedAt <= abortedAt + INVOCATION_TAIL_MS + 300_000, 'within one wait after that');
      assert.equal(callbackOf('op_after_lost').summary.succeeded, HOSTS);
      assert.deepEqual(Object.keys((await holdings(tableName)) ?? {}), []);
    } finally {
      client.destroy();
      await sfnServer.close();
    }
  });

  it('the rule: every end without the aggregate step, of the fleet-run machine only, to the worker', () => {
    const { eventPattern, target, machineId, functionId } = cloud.definitions.runEnded;
    assert.deepEqual(eventPattern.source, ['aws.states']);
    assert.deepEqual(eventPattern['detail-type'], ['Step Functions Execution Status Change']);
    assert.deepEqual([...eventPattern.detail.status].sort(), ['ABORTED', 'FAILED', 'TIMED_OUT']);
    assert.deepEqual(eventPattern.detail.stateMachineArn, [{ Ref: machineId }]);
    assert.deepEqual(target.Arn, { 'Fn::GetAtt': [functionId, 'Arn'] });
  });
});

type Payload = { step?: string; operationId?: string; run?: { operationId?: string } };
