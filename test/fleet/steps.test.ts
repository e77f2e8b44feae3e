// The steps of a fleet run as a state machine calls them, one by one, over host doubles (the
// engine is under test here, not the hosts) with the memory run store, delivery ledger and blob
// store, and a real callback receiver: the maxErrors gate before any host is touched, a step
// delivered twice, the canary loop, and the aggregate from ResultWriter files as Step Functions
// writes them. The same steps over DynamoDB and S3, inside the simulated state machine, are in
// test/cloud/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { resolveRateControl } from '../../lib/fleet/rate.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { aggregateFleetRun } from '../../lib/fleet/steps/aggregate-step.ts';
import { createMemoryBlobStore, runKeys, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import type { FleetRunState } from '../../lib/fleet/steps/events.ts';
import { planFleetRun } from '../../lib/fleet/steps/plan.ts';
import { runCanaryStep, runTargetStep } from '../../lib/fleet/steps/target-step.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';

const STARTED = '2026-11-27T12:00:00.000Z';

describe('fleet run steps', () => {
  let receiver: CallbackReceiver;
  let hosts: HostDoubles;
  let deps: StepDeps & { blobs: ReturnType<typeof createMemoryBlobStore> };

  before(async () => {
    receiver = await startCallbackReceiver([]);
  });
  after(() => receiver.close());

  const fresh = (count: number) => {
    hosts = createHostDoubles(count);
    const options = { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5, backoffMaxMs: 10 };
    deps = {
      fleet: hosts.fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      blobs: createMemoryBlobStore('runs'),
      deliver: (url, result) => deliverCallback(url, result, options),
      workFor: () => hosts.work(),
      concurrencyCap: 40,
    };
    receiver.requests.length = 0;
  };

  const execution = (operationId: string, request: Record<string, unknown>) => ({
    operationId,
    startedAt: STARTED,
    request: { select: 'all', product: 'deepfiler', version: '3.2.1', ...request },
  });

  it('plans once: the selection in the bucket, rates from rate.ts, the Map capped below the reserve', async () => {
    fresh(500);
    const input = execution('op_plan', { maxConcurrency: '50%', maxErrors: '1%', canary: 2 });
    const plan = await planFleetRun(deps, input);
    assert.deepEqual(plan.rate, { maxConcurrency: 250, maxErrors: 5, canary: 2 });
    assert.equal(plan.mapConcurrency, 40, 'capped below the reserved concurrency');
    assert.deepEqual(plan.canary, { next: 0, succeeded: 0, done: false, stopped: false, fleetCount: 0 });
    const items = JSON.parse(deps.blobs.objects.get(runKeys('op_plan').targets)!);
    assert.equal(items.length, 500);
    assert.deepEqual(items[499], { server: 'host-00500', index: 499 });
    assert.deepEqual(await planFleetRun(deps, input), plan, 'a re-run answers the same plan');
    assert.equal((await deps.store.get('op_plan'))?.status, 'running');
  });

  it('plans any selection with rate.ts’s counts, the Map at most the cap, every target once in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300 }),
        fc.option(
          fc.oneof(
            fc.integer({ min: 1, max: 500 }),
            fc.integer({ min: 1, max: 100 }).map((n) => `${n}%`),
          ),
          { nil: undefined },
        ),
        fc.option(
          fc.oneof(
            fc.nat({ max: 500 }),
            fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
          ),
          { nil: undefined },
        ),
        fc.option(
          fc.oneof(
            fc.nat({ max: 20 }),
            fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
          ),
          { nil: undefined },
        ),
        async (n, maxConcurrency, maxErrors, canary) => {
          fresh(Math.max(n, 1));
          const request = { maxConcurrency, maxErrors, canary, select: n === 0 ? 'host-00001' : 'all' };
          const plan = await planFleetRun(deps, execution('op_prop', request));
          const total = n === 0 ? 1 : n;
          const expected = resolveRateControl({ maxConcurrency, maxErrors, canary: canary ?? 1 }, total);
          assert.deepEqual(plan.rate, expected);
          assert.equal(plan.mapConcurrency, Math.min(expected.maxConcurrency, 40));
          const items = JSON.parse(deps.blobs.objects.get(runKeys('op_prop').targets)!);
          assert.deepEqual(
            items,
            hosts.fleet.select(request.select).map((server, index) => ({ server, index })),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the canary loop replaces an unreachable canary and stops at the first failure', async () => {
    fresh(10);
    hosts.behaviour.set('host-00001', 'unreachable');
    const input = execution('op_canary', { canary: 2, maxErrors: 5 });
    let run: FleetRunState = { ...input, plan: await planFleetRun(deps, input) };
    while (!run.plan.canary.done)
      run = { ...run, plan: { ...run.plan, canary: await runCanaryStep(deps, run) } };
    assert.deepEqual(run.plan.canary, { next: 3, succeeded: 2, done: true, stopped: false, fleetCount: 7 });
    assert.deepEqual(
      hosts.touches.map((touch) => touch.server),
      ['host-00001', 'host-00002', 'host-00003'],
    );
    const fleet = JSON.parse(deps.blobs.objects.get(runKeys('op_canary').fleet)!);
    assert.deepEqual(fleet[0], { server: 'host-00004', index: 3 });

    fresh(10);
    hosts.behaviour.set('host-00002', 'fail');
    const failing = execution('op_canary_fail', { canary: 3, maxErrors: 5 });
    run = { ...failing, plan: await planFleetRun(deps, failing) };
    while (!run.plan.canary.done)
      run = { ...run, plan: { ...run.plan, canary: await runCanaryStep(deps, run) } };
    assert.deepEqual(run.plan.canary, { next: 2, succeeded: 1, done: true, stopped: true, fleetCount: 0 });
    // A canary step run again (a retried Task) answers the kept report: no host is touched again.
    const again = await runCanaryStep(deps, {
      ...run,
      plan: {
        ...run.plan,
        canary: { ...run.plan.canary, next: 1, succeeded: 1, done: false, stopped: false },
      },
    });
    assert.equal(again.stopped, true);
    assert.equal(hosts.touches.length, 2);
    assert.equal((await deps.store.get('op_canary_fail'))?.failures, 1);
  });

  it('a target step gates on the shared count before touching its host, and counts a failure once', async () => {
    fresh(6);
    hosts.behaviour.set('host-00001', 'fail');
    hosts.behaviour.set('host-00002', 'fail');
    const input = execution('op_gate', { canary: 0, maxErrors: 1 });
    const plan = await planFleetRun(deps, input);
    const step = (index: number) =>
      runTargetStep(deps, {
        operationId: 'op_gate',
        request: input.request,
        maxErrors: plan.rate.maxErrors,
        healthGate: plan.healthGate,
        item: { server: hosts.names[index]!, index },
      });
    assert.equal((await step(0)).status, 'failed');
    // Delivered twice (Lambda's at-least-once): the kept report, no second touch, no second count.
    assert.equal((await step(0)).status, 'failed');
    assert.equal(hosts.touches.length, 1);
    assert.equal((await deps.store.get('op_gate'))?.failures, 1);
    assert.equal((await step(1)).status, 'failed');
    assert.equal((await deps.store.get('op_gate'))?.failures, 2);
    // More failures than maxErrors: the rest are skipped, and never touched.
    assert.deepEqual(await step(2), { server: 'host-00003', status: 'skipped', index: 2 });
    assert.equal(hosts.touches.length, 2);
    // Each host worked is let go once its step is done with it; a repeat or a skip holds nothing.
    assert.deepEqual(hosts.released, ['host-00001', 'host-00002']);
    // GET /fleet/operations/{id} while it runs (SPEC 7.1 v2): the summary and targets so far.
    const record = await deps.store.get('op_gate');
    assert.equal(record?.status, 'running');
    assert.deepEqual(record?.summary, { total: 6, succeeded: 0, failed: 2, unreachable: 0, skipped: 1 });
    assert.deepEqual(
      record?.targets?.map((target) => [target.server, target.status]),
      [
        ['host-00001', 'failed'],
        ['host-00002', 'failed'],
        ['host-00003', 'skipped'],
      ],
    );
  });

  it('aggregates from the ResultWriter files without asking hosts, unreported targets skipped, one callback', async () => {
    fresh(5);
    hosts.behaviour.set('host-00003', 'fail');
    const input = execution('op_agg', { canary: 1, maxErrors: 0, callbackUrl: receiver.url });
    let run: FleetRunState = { ...input, plan: await planFleetRun(deps, input) };
    run = { ...run, plan: { ...run.plan, canary: await runCanaryStep(deps, run) } };
    const reports = [];
    for (const index of [1, 2]) {
      reports.push(
        await runTargetStep(deps, {
          operationId: 'op_agg',
          request: input.request,
          maxErrors: 0,
          healthGate: true,
          item: { server: hosts.names[index]!, index },
        }),
      );
    }
    // What Step Functions writes: a manifest, and result files of child executions.
    const prefix = `${run.plan.keys.results}/map-run-1`;
    const child = (report: object, item: object) => ({
      Status: 'SUCCEEDED',
      Input: JSON.stringify({ step: 'target', item }),
      Output: JSON.stringify(report),
    });
    await deps.blobs.put(
      `${prefix}/SUCCEEDED_0.json`,
      JSON.stringify(reports.map((r) => child(r, { server: r.server, index: r.index }))),
    );
    await deps.blobs.put(
      `${prefix}/FAILED_0.json`,
      JSON.stringify([
        {
          Status: 'FAILED',
          Input: JSON.stringify({ item: { server: 'host-00004', index: 3 } }),
          Error: 'Lambda.TooManyRequestsException',
          Cause: 'Rate exceeded',
        },
      ]),
    );
    await deps.blobs.put(
      `${prefix}/manifest.json`,
      JSON.stringify({
        ResultFiles: {
          SUCCEEDED: [{ Key: `${prefix}/SUCCEEDED_0.json` }],
          FAILED: [{ Key: `${prefix}/FAILED_0.json` }],
          PENDING: [],
        },
      }),
    );
    run = { ...run, fleetRun: { ResultWriterDetails: { Bucket: 'runs', Key: `${prefix}/manifest.json` } } };
    const touched = hosts.touches.length;
    const answer = await aggregateFleetRun(deps, run);
    assert.equal(hosts.touches.length, touched, 'no host asked again');
    assert.deepEqual(answer.summary, { total: 5, succeeded: 2, failed: 1, unreachable: 0, skipped: 2 });
    const result = JSON.parse(deps.blobs.objects.get(runKeys('op_agg').result)!);
    assert.deepEqual(
      result.targets.map((t: { status: string }) => t.status),
      ['succeeded', 'succeeded', 'failed', 'skipped', 'skipped'],
    );
    // The step re-run (a retried Task): the same answer, and still one callback.
    await aggregateFleetRun(deps, run);
    assert.equal(receiver.requests.length, 1);
    assert.equal(JSON.parse(receiver.requests[0]!.body).summary.skipped, 2);
    const record = await deps.store.get('op_agg');
    assert.equal(record?.status, 'partial');
    assert.equal(record?.resultLocation, `s3://runs/${runKeys('op_agg').result}`);
  });
});
