// The reserve step of a fleet run (lib/fleet/steps/reserve.ts) over a memory pool: one unit for
// the canary stage, the Map's width after it, a wait that grows while the pool is short and starts
// short again at a new stage, the units given back by the aggregate step and by `run-ended`, and
// every run granted what it asks for when there is no pool (one process).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryConcurrencyPool } from '../../lib/fleet/concurrency-pool.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { aggregateFleetRun } from '../../lib/fleet/steps/aggregate-step.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import type { FleetRunState, Slots } from '../../lib/fleet/steps/events.ts';
import { planFleetRun } from '../../lib/fleet/steps/plan.ts';
import {
  FLEET_RUN_TIMEOUT_MS,
  INVOCATION_TAIL_MS,
  MAX_SLOT_WAIT_SECONDS,
  reserveSlots,
  slotWaitSeconds,
} from '../../lib/fleet/steps/reserve.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { createHostDoubles } from '../support/host-double.ts';

const STARTED = '2026-11-29T12:00:00.000Z';
const NOW = Date.parse(STARTED) + 60_000;

function setup(clock = { now: NOW }, pool = createMemoryConcurrencyPool(() => clock.now)) {
  const hosts = createHostDoubles(30);
  const deps: StepDeps = {
    fleet: hosts.fleet,
    store: createMemoryRunStore(),
    ledger: createMemoryDeliveryLedger(),
    blobs: createMemoryBlobStore('runs'),
    workFor: () => hosts.work(),
    concurrencyCap: 10,
    pool,
    now: () => new Date(clock.now),
  };
  const planned = async (operationId: string, request: Record<string, unknown>): Promise<FleetRunState> => {
    const input = {
      operationId,
      startedAt: STARTED,
      request: { select: 'all', product: 'deepfiler', version: '3.2.1', maxConcurrency: 8, ...request },
    };
    return { ...input, plan: await planFleetRun(deps, input) };
  };
  const withSlots = (run: FleetRunState, slots: Slots): FleetRunState => ({
    ...run,
    plan: { ...run.plan, slots },
  });
  return { pool, deps, planned, withSlots, clock };
}

describe('the reserve step', () => {
  it('holds one unit through the canary stage, then the Map’s width', async () => {
    const { pool, deps, planned, withSlots } = setup();
    const run = await planned('op_stages', { canary: 2 });
    assert.deepEqual(run.plan.slots, { stage: 'none', granted: 0, wait: 0, tries: 0 });
    const canary = await reserveSlots(deps, run);
    assert.deepEqual(canary, { stage: 'canary', granted: 1, wait: 0, tries: 0 });
    assert.deepEqual(await pool.holdings(), {
      op_stages: { units: 1, until: Date.parse(STARTED) + FLEET_RUN_TIMEOUT_MS },
    });
    const afterCanaries = withSlots(
      {
        ...run,
        plan: {
          ...run.plan,
          canary: { ...run.plan.canary, done: true, next: 2, succeeded: 2, fleetCount: 28 },
        },
      },
      canary,
    );
    assert.deepEqual(await reserveSlots(deps, afterCanaries), {
      stage: 'fleet',
      granted: 8,
      wait: 0,
      tries: 0,
    });
    assert.equal((await pool.holdings())['op_stages']?.units, 8);
  });

  it('waits longer each ungranted ask, up to 5 minutes, and starts short again at a new stage', async () => {
    const { pool, deps, planned, withSlots } = setup();
    await pool.reserve('op_other', 10, 10, NOW + 3_600_000);
    let run = await planned('op_short', { canary: 0 });
    const waits: number[] = [];
    for (let ask = 0; ask < 8; ask += 1) {
      const slots = await reserveSlots(deps, run);
      assert.equal(slots.granted, 0);
      assert.equal(slots.stage, 'fleet');
      waits.push(slots.wait);
      run = withSlots(run, slots);
    }
    assert.deepEqual(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
    // What GET /fleet/operations/{id} shows meanwhile: waiting since its first ask, and for whom.
    assert.deepEqual((await deps.store.get('op_short'))?.waiting, {
      for: 'concurrency',
      since: new Date(NOW).toISOString(),
      holders: ['op_other'],
    });
    assert.equal(MAX_SLOT_WAIT_SECONDS, 300);
    // The waits of a day stay far inside an execution's 25,000 history events (~8 events a wait).
    let asks = 0;
    for (let waited = 0; waited < 86_400; asks += 1) waited += slotWaitSeconds(asks + 1);
    assert.ok(asks * 8 < 5_000, `${asks} asks a day`);
    await pool.release('op_other');
    assert.deepEqual(await reserveSlots(deps, run), { stage: 'fleet', granted: 8, wait: 0, tries: 0 });
    assert.equal((await deps.store.get('op_short'))?.waiting, null, 'granted: no longer waiting');
    // A canary stage's waits do not carry over into the fleet stage's.
    const next = await planned('op_next', { canary: 1 });
    const waiting = withSlots(next, { stage: 'canary', granted: 1, wait: 0, tries: 0 });
    const fleetStage = {
      ...waiting,
      plan: {
        ...waiting.plan,
        canary: { ...waiting.plan.canary, done: true, next: 1, succeeded: 1, fleetCount: 29 },
      },
    };
    assert.deepEqual(await reserveSlots(deps, fleetStage), {
      stage: 'fleet',
      granted: 0,
      wait: 10,
      tries: 1,
    });
  });

  it('gives the units back in the aggregate step, and on `run-ended` once its invocations may have ended; each idempotent', async () => {
    const { pool, deps, planned, clock } = setup();
    const run = await planned('op_back', { canary: 0 });
    await reserveSlots(deps, run);
    await reserveSlots(deps, await planned('op_ended', { canary: 0, maxConcurrency: 2 }));
    assert.deepEqual(Object.keys(await pool.holdings()).sort(), ['op_back', 'op_ended']);
    await aggregateFleetRun(deps, run);
    await aggregateFleetRun(deps, run);
    assert.deepEqual(Object.keys(await pool.holdings()), ['op_ended']);
    const ended = workerStepSchema.parse({ step: 'run-ended', operationId: 'op_ended', status: 'ABORTED' });
    assert.deepEqual(await runWorkerStep(deps, ended), { operationId: 'op_ended', released: true });
    clock.now += 60_000;
    assert.deepEqual(await runWorkerStep(deps, ended), { operationId: 'op_ended', released: true });
    // Held 15 minutes from the first event: an invocation the aborted run started runs on.
    assert.deepEqual(Object.keys(await pool.holdings()), ['op_ended']);
    assert.equal((await pool.holdings())['op_ended']?.until, NOW + INVOCATION_TAIL_MS);
    clock.now = NOW + INVOCATION_TAIL_MS;
    assert.deepEqual(await pool.holdings(), {});
  });

  it('a run whose Map failed gives its units back once its stopped children’s invocations may have ended', async () => {
    const { pool, deps, planned, clock } = setup();
    const run = await planned('op_mapfailed', { canary: 0 });
    await reserveSlots(deps, run);
    await aggregateFleetRun(deps, { ...run, fleetError: { Error: 'States.ItemReaderFailed' } });
    assert.equal((await pool.holdings())['op_mapfailed']?.until, NOW + INVOCATION_TAIL_MS);
    clock.now += INVOCATION_TAIL_MS;
    assert.deepEqual(await pool.holdings(), {});
  });

  it('asks Step Functions whether the holders still run when short, and frees those that ended', async () => {
    const { pool, deps, planned } = setup();
    const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:FleetRun:${name}`;
    await pool.reserve('op_gone', 5, 10, NOW + 3_600_000, arn('op_gone'));
    await pool.reserve('op_just_gone', 2, 10, NOW + 3_600_000, arn('op_just_gone'));
    await pool.reserve('op_running', 3, 10, NOW + 3_600_000, arn('op_running'));
    await pool.reserve('op_unknown', 1, 10, NOW + 3_600_000);
    const asked: string[] = [];
    const withLookup: StepDeps = {
      ...deps,
      executionEnded: async (execution) => {
        asked.push(execution);
        if (execution === arn('op_running')) throw new Error('DescribeExecution throttled');
        // op_gone ended 20 minutes ago, op_just_gone a minute ago.
        if (execution === arn('op_gone')) return NOW - 20 * 60_000;
        if (execution === arn('op_just_gone')) return NOW - 60_000;
        return undefined;
      },
    };
    const run = await planned('op_new', { canary: 0 });
    // 10 units: op_gone 5, op_just_gone 2, op_running 3 (op_unknown was granted none). Short:
    // op_gone's invocations have ended, op_just_gone's may still run for 14 minutes.
    assert.deepEqual(await reserveSlots(withLookup, run, arn('op_new')), {
      stage: 'fleet',
      granted: 5,
      wait: 0,
      tries: 0,
    });
    assert.deepEqual(asked.sort(), [arn('op_gone'), arn('op_just_gone'), arn('op_running')]);
    assert.deepEqual(Object.keys(await pool.holdings()).sort(), ['op_just_gone', 'op_new', 'op_running']);
    assert.equal((await pool.holdings())['op_just_gone']?.until, NOW - 60_000 + INVOCATION_TAIL_MS);
    assert.equal((await pool.holdings())['op_new']?.execution, arn('op_new'));
    // Not short: nobody is asked.
    asked.length = 0;
    await reserveSlots(withLookup, run, arn('op_new'));
    assert.deepEqual(asked, []);
  });

  it('`run-ended` frees the holder kept with the execution’s ARN, whatever its name', async () => {
    const { pool, deps } = setup();
    const long = `op_${'x'.repeat(100)}`;
    const arn = 'arn:aws:states:us-east-1:123456789012:execution:FleetRun:op_xxxx-1a2b3c4d';
    await pool.reserve(long, 2, 10, NOW + 3_600_000, arn);
    const ended = workerStepSchema.parse({
      step: 'run-ended',
      operationId: 'op_xxxx-1a2b3c4d',
      status: 'FAILED',
      execution: arn,
    });
    await runWorkerStep(deps, ended);
    assert.equal((await pool.holdings())[long]?.until, NOW + INVOCATION_TAIL_MS);
  });

  it('reads a run planned before the pool (under way when the stack was updated) as holding nothing', async () => {
    const { deps, planned } = setup();
    const run = await planned('op_before', { canary: 0 });
    const { slots: _slots, ...before } = run.plan;
    const step = workerStepSchema.parse({ step: 'aggregate', run: { ...run, plan: before } });
    assert.equal(step.step, 'aggregate');
    assert.deepEqual(step.step === 'aggregate' && step.run.plan.slots, {
      stage: 'none',
      granted: 0,
      wait: 0,
      tries: 0,
    });
    await runWorkerStep(deps, step);
  });

  it('a start that does not read as a time leases from now, never NaN', async () => {
    const { pool, deps, planned } = setup();
    const run = await planned('op_nostart', { canary: 0 });
    await reserveSlots(deps, { ...run, startedAt: 'soon' });
    const until = (await pool.holdings())['op_nostart']?.until ?? Number.NaN;
    assert.ok(Number.isFinite(until) && until > Date.now(), `${until}`);
  });

  it('grants what is asked without a pool (one process)', async () => {
    const { deps, planned } = setup();
    const alone = { ...deps, pool: undefined };
    const run = await planned('op_alone', { canary: 0 });
    assert.deepEqual(await reserveSlots(alone, run), { stage: 'fleet', granted: 8, wait: 0, tries: 0 });
  });
});
