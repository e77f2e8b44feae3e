// A failed target is counted against maxErrors exactly once on Step Functions (SPEC 4, 7.3),
// even when its step throws partway — the run store throttled, the runs bucket or the ledger did
// not answer — and the state machine runs it again (the Target task's States.TaskFailed retry):
// the retry answers the kept report and must count it if the first attempt did not, and a step
// run again after that must not count it twice. First over the memory backends, with a fault at
// each write of the step; then over dynalite (the DynamoDB run store and ledger of the cloud),
// where the failed count's claim can also outlive the attempt that made it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoDeliveryLedger } from '../../lib/cloud/dynamo-delivery-ledger.ts';
import { createDynamoRunStore } from '../../lib/cloud/dynamo-run-store.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import type { FleetRunState } from '../../lib/fleet/steps/events.ts';
import { planFleetRun } from '../../lib/fleet/steps/plan.ts';
import { runCanaryStep, runTargetStep } from '../../lib/fleet/steps/target-step.ts';
import { type DynaliteServer, startDynalite } from '../support/dynalite.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';

const STARTED = '2026-11-27T12:00:00.000Z';
const REQUEST = { select: 'all', product: 'deepfiler', version: '3.2.1' };

/** What DynamoDB answers a throttled write with (the SDK gave up retrying it). */
function throttled(): Error {
  const error = new Error('The level of configured provisioned throughput for the table was exceeded');
  error.name = 'ProvisionedThroughputExceededException';
  return error;
}

/** The Target task as Step Functions runs it: a step that throws is run again, up to 3 retries. */
async function asRetried<T>(step: () => Promise<T>, pauseMs = 0): Promise<{ answer: T; attempts: number }> {
  for (let attempts = 1; ; attempts += 1) {
    try {
      return { answer: await step(), attempts };
    } catch (error) {
      if (attempts === 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

type Fault = 'keep the report' | 'claim the count' | 'add the failure' | 'record progress';

/** Memory backends whose `fault` write throws the first time the failed target reaches it. */
function faultyDeps(hosts: HostDoubles, fault: Fault): StepDeps {
  const store = createMemoryRunStore();
  const ledger = createMemoryDeliveryLedger();
  const blobs = createMemoryBlobStore('runs');
  let armed = true;
  const once = (at: Fault) => {
    if (fault !== at || !armed) return;
    armed = false;
    throw throttled();
  };
  return {
    fleet: hosts.fleet,
    workFor: () => hosts.work(),
    blobs: {
      ...blobs,
      put: async (key, body) => {
        if (key.includes('/reports/') || key.includes('/canary/')) once('keep the report');
        await blobs.put(key, body);
      },
    },
    ledger: {
      deliverOnce: async (key, send) => {
        once('claim the count');
        return ledger.deliverOnce(key, send);
      },
    },
    store: {
      ...store,
      addFailure: async (operationId) => {
        once('add the failure');
        return store.addFailure(operationId);
      },
      recordTarget: async (operationId, report) => {
        if (report.status === 'failed') once('record progress');
        await store.recordTarget(operationId, report);
      },
    },
  };
}

describe('a failed target counted once when its step is retried (memory backends)', () => {
  for (const fault of ['keep the report', 'claim the count', 'add the failure', 'record progress'] as const) {
    it(`target step: the step fails to ${fault}, is retried: one failure counted, the next target skipped`, async () => {
      const hosts = createHostDoubles(3);
      hosts.behaviour.set('host-00001', 'fail');
      const deps = faultyDeps(hosts, fault);
      const plan = await planFleetRun(deps, {
        operationId: 'op_retried',
        startedAt: STARTED,
        request: REQUEST,
      });
      const step = (index: number) =>
        runTargetStep(deps, {
          operationId: 'op_retried',
          request: REQUEST,
          maxErrors: 0,
          healthGate: plan.healthGate,
          item: { server: hosts.names[index]!, index },
        });
      const { answer, attempts } = await asRetried(() => step(0));
      assert.equal(attempts, 2, 'the first attempt threw');
      assert.equal(answer.status, 'failed');
      assert.equal((await deps.store.get('op_retried'))?.failures, 1);
      // Delivered again later (Lambda's at-least-once): the same report, still one failure.
      assert.equal((await step(0)).status, 'failed');
      assert.equal((await deps.store.get('op_retried'))?.failures, 1);
      // maxErrors 0 and one target failed: no new target starts.
      assert.deepEqual(await step(1), { server: 'host-00002', status: 'skipped', index: 1 });
      assert.ok(!hosts.touches.some((touch) => touch.server === 'host-00002'), 'host-00002 never touched');
    });
  }

  it('canary step: the count throttled, the step retried: the failure counted once, the run stopped', async () => {
    const hosts = createHostDoubles(4);
    hosts.behaviour.set('host-00001', 'fail');
    const deps = faultyDeps(hosts, 'add the failure');
    const input = {
      operationId: 'op_canary_retried',
      startedAt: STARTED,
      request: { ...REQUEST, maxErrors: 3 },
    };
    const run: FleetRunState = { ...input, plan: await planFleetRun(deps, input) };
    const { answer, attempts } = await asRetried(() => runCanaryStep(deps, run));
    assert.equal(attempts, 2);
    assert.equal(answer.stopped, true);
    assert.equal((await deps.store.get('op_canary_retried'))?.failures, 1);
    await runCanaryStep(deps, run);
    assert.equal((await deps.store.get('op_canary_retried'))?.failures, 1, 'run again: not counted twice');
    assert.equal(hosts.touches.length, 1);
  });
});

describe('a failed target counted once when its step is retried (DynamoDB run store and ledger)', () => {
  let dynamo: DynaliteServer;
  before(async () => {
    dynamo = await startDynalite();
  });
  after(() => dynamo.close());

  /** A client whose next DeleteItem fails: the ledger cannot give up a claim it made. */
  function failingDeletes(client: DynamoDBClient) {
    const fail = { next: 0 };
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteItemCommand' && fail.next > 0) {
          fail.next -= 1;
          throw throttled();
        }
        return next(args);
      },
      { step: 'initialize', name: 'failDeletes' },
    );
    return fail;
  }

  async function cloudDeps(hosts: HostDoubles, leaseMs: number) {
    const tableName = await dynamo.createTable();
    const real = createDynamoRunStore({ client: dynamo.client(), tableName });
    const ledgerClient = dynamo.client();
    const deletes = failingDeletes(ledgerClient);
    const ledger = createDynamoDeliveryLedger({
      client: ledgerClient,
      tableName,
      inProgressLeaseMs: leaseMs,
      waitMs: 50,
      pollMs: 5,
    });
    const throttle = { next: 0 };
    const deps: StepDeps = {
      fleet: hosts.fleet,
      workFor: () => hosts.work(),
      blobs: createMemoryBlobStore('runs'),
      ledger,
      store: {
        ...real,
        addFailure: async (operationId) => {
          if (throttle.next > 0) {
            throttle.next -= 1;
            throw throttled();
          }
          return real.addFailure(operationId);
        },
      },
    };
    return { deps, throttle, deletes };
  }

  const stepOf = (deps: StepDeps, hosts: HostDoubles, operationId: string) => (index: number) =>
    runTargetStep(deps, {
      operationId,
      request: REQUEST,
      maxErrors: 0,
      healthGate: true,
      item: { server: hosts.names[index]!, index },
    });

  it('the count throttled: the retry counts it, once; the next target skipped', async () => {
    const hosts = createHostDoubles(3);
    hosts.behaviour.set('host-00001', 'fail');
    const { deps, throttle } = await cloudDeps(hosts, 60_000);
    await planFleetRun(deps, { operationId: 'op_throttled', startedAt: STARTED, request: REQUEST });
    const step = stepOf(deps, hosts, 'op_throttled');
    throttle.next = 1;
    const { answer, attempts } = await asRetried(() => step(0));
    assert.equal(attempts, 2);
    assert.equal(answer.status, 'failed');
    assert.equal((await deps.store.get('op_throttled'))?.failures, 1);
    assert.equal((await step(0)).status, 'failed');
    assert.equal((await deps.store.get('op_throttled'))?.failures, 1, 'delivered again: not counted twice');
    assert.equal((await step(1)).status, 'skipped');
    assert.deepEqual(
      hosts.touches.map((touch) => touch.server),
      ['host-00001'],
    );
  });

  it('the count throttled and its claim left behind: a retry waits the claim out, then counts once', async () => {
    const hosts = createHostDoubles(3);
    hosts.behaviour.set('host-00001', 'fail');
    const { deps, throttle, deletes } = await cloudDeps(hosts, 300);
    await planFleetRun(deps, { operationId: 'op_stuck_claim', startedAt: STARTED, request: REQUEST });
    const step = stepOf(deps, hosts, 'op_stuck_claim');
    throttle.next = 1;
    deletes.next = 1;
    // Step Functions' backoff (1 s, 2 s, 4 s) outlasts a dead attempt's claim; here, 200 ms.
    const { answer, attempts } = await asRetried(() => step(0), 200);
    assert.ok(attempts >= 2, `${attempts} attempts`);
    assert.equal(answer.status, 'failed');
    assert.equal((await deps.store.get('op_stuck_claim'))?.failures, 1);
    assert.equal((await step(1)).status, 'skipped');
    assert.equal((await deps.store.get('op_stuck_claim'))?.failures, 1);
  });
});
