// SPEC 7.3 v2 for the heartbeat function: runs side by side — a heartbeat started by hand while
// the schedule's runs — never ask for more than the function's reserved concurrency. Both run on
// the SYNTHESIZED heartbeat state machine, simulated (Step Functions cannot run here) over the
// real heartbeat steps, with the function's concurrency pool on dynalite and host doubles on the
// simulation's virtual clock: at no moment are more shards in flight than the pool holds, and
// both runs still read every host. Without the pool the same two runs ask for more. An execution
// that ends without its report gives its units back through the HeartbeatEnded rule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDynamoConcurrencyPool } from '../../lib/cloud/dynamo-concurrency-pool.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import { type ConcurrencyPool, HEARTBEAT_POOL } from '../../lib/fleet/concurrency-pool.ts';
import type { HeartbeatReport } from '../../lib/fleet/heartbeat.ts';
import {
  type HeartbeatDeps,
  heartbeatRunId,
  heartbeatStepSchema,
  runHeartbeatStep,
} from '../../lib/fleet/steps/heartbeat.ts';
import { INVOCATION_TAIL_MS } from '../../lib/fleet/steps/reserve.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import type { Execution, SimulatedStepFunctions } from '../support/asl/index.ts';
import { createHostDoubles } from '../support/host-double.ts';
import { onVirtualClock, useHeartbeatSimulation } from './heartbeat-setup.ts';
import { transformedInput } from './simulation.ts';

const HOSTS = 400;
/** The heartbeat's period (heartbeatSettings' default). */
const PERIOD_MS = 300_000;
/** The pool: the heartbeat function's reserved concurrency less its headroom. */
const MAX_SHARDS = 6;

describe('heartbeat runs side by side share the heartbeat function’s concurrency (simulated, virtual time)', () => {
  const hb = useHeartbeatSimulation();
  const hosts = createHostDoubles(HOSTS);

  function simulation(pool: ConcurrencyPool | undefined, tag: string) {
    const backends = hb.backends(hosts.tick);
    const flight = { now: 0, most: 0 };
    const reports = new Map<string, HeartbeatReport>();
    const deps: HeartbeatDeps = {
      fleet: hosts.fleet,
      blobs: backends.blobs,
      ledger: backends.ledger,
      // 20 s a host makes every shard of 400 hosts wide and long: the two runs overlap.
      settings: heartbeatSettings({ perHostMs: 20_000, maxShards: MAX_SHARDS }),
      callbackUrl: `${hb.peers.receiver.url}/${tag}`,
      // The report as it would be POSTed: kept here, to read what each run read.
      deliverReport: async (_url, report) => {
        reports.set(report.operationId, report);
        return { delivered: true, attempts: 1 };
      },
      ...(pool ? { pool } : {}),
    };
    const sim = hb.stepFunctions(async (step, ctx, sim) => {
      const shard = step.step === 'heartbeat-shard';
      if (shard) flight.most = Math.max(flight.most, ++flight.now);
      try {
        return await runHeartbeatStep(
          onVirtualClock(
            deps,
            sim,
            ctx,
            hosts.readHeartbeat(() => 1_000, ctx.sleep),
          ),
          step,
        );
      } finally {
        if (shard) flight.now -= 1;
      }
    });
    return { sim, flight, reports, deps };
  }

  const poolOn = async (clock: () => number) =>
    createDynamoConcurrencyPool({
      client: hb.peers.dynamo.client(),
      tableName: await hb.peers.dynamo.createTable(),
      name: HEARTBEAT_POOL,
      now: clock,
    });

  const startBoth = (sim: SimulatedStepFunctions, suffix: string) => {
    const time = new Date(sim.clock.now() + 2_000);
    const scheduled = {
      operationId: `${heartbeatRunId(time, PERIOD_MS)}-${suffix}`,
      startedAt: time.toISOString(),
    };
    const manual = { operationId: `op_manual_${suffix}`, startedAt: time.toISOString(), manual: true };
    return [scheduled, manual].map((input) =>
      sim.startExecution({ definition: hb.definitions.heartbeat, name: input.operationId, input }),
    );
  };

  const entered = (execution: Execution, state: string) =>
    execution.events.filter((e) => e.type === 'StateEntered' && e.state === state).length;

  it('never has more shards in flight than the pool, and both runs read every host', async () => {
    let sim!: SimulatedStepFunctions;
    const pool = await poolOn(() => sim.clock.now());
    const made = simulation(pool, 'pooled');
    sim = made.sim;
    const runs = startBoth(sim, 'pooled');
    const results = await Promise.all(runs.map((run) => run.result()));
    for (const result of results) assert.equal(result.status, 'SUCCEEDED');
    assert.ok(
      made.flight.most <= MAX_SHARDS,
      `${made.flight.most} shards at once, the pool holds ${MAX_SHARDS}`,
    );
    assert.equal(made.flight.most, MAX_SHARDS, 'the pool was used whole');
    for (const run of runs) {
      const report = made.reports.get(run.name);
      assert.ok(report, `${run.name} reported`);
      assert.equal(report.summary.healthy, HOSTS, `${run.name}: every host read`);
    }
    // Whichever planned first holds the whole pool; the other waited for it, then read every host.
    const waited = runs.map((run) => entered(run, 'WaitForShards'));
    assert.equal(waited.filter((count) => count > 0).length, 1, `waits: ${waited.join(', ')}`);
  });

  it('the same two runs without the pool ask for more than it holds', async () => {
    const made = simulation(undefined, 'unpooled');
    const runs = startBoth(made.sim, 'unpooled');
    for (const result of await Promise.all(runs.map((run) => run.result()))) {
      assert.equal(result.status, 'SUCCEEDED');
    }
    assert.ok(made.flight.most > MAX_SHARDS, `${made.flight.most} shards at once`);
  });

  it('a period with no host to read neither waits for units nor takes any', async () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    const pool = await poolOn(() => now);
    await pool.reserve('hb-busy', MAX_SHARDS, MAX_SHARDS, now + 3_600_000);
    const made = simulation(pool, 'empty');
    const planned = (await runHeartbeatStep(
      { ...made.deps, fleet: createStaticFleet([]), clock: () => now },
      heartbeatStepSchema.parse({
        step: 'heartbeat-plan',
        run: { operationId: 'hb-empty', startedAt: new Date(now).toISOString() },
      }),
    )) as { granted: number; shards: number };
    assert.equal(planned.shards, 0);
    assert.ok(planned.granted > 0, 'granted: the execution goes on to its report');
    assert.deepEqual(Object.keys(await pool.holdings()), ['hb-busy']);
  });

  it('an execution that ended without its report gives its units back through the HeartbeatEnded rule, once its shards’ invocations may have ended', async () => {
    let now = Date.parse('2026-11-29T12:00:00Z');
    const pool = await poolOn(() => now);
    const made = simulation(pool, 'ended');
    const planned = await runHeartbeatStep(
      { ...made.deps, clock: () => now },
      heartbeatStepSchema.parse({
        step: 'heartbeat-plan',
        run: { operationId: 'hb-ended', startedAt: new Date(now).toISOString() },
      }),
    );
    assert.equal((planned as { granted: number }).granted, MAX_SHARDS);
    const other = {
      step: 'heartbeat-plan',
      run: { operationId: 'op_after', startedAt: new Date(now).toISOString(), manual: true },
    };
    assert.equal(
      (
        (await runHeartbeatStep({ ...made.deps, clock: () => now }, heartbeatStepSchema.parse(other))) as {
          granted: number;
        }
      ).granted,
      0,
      'the pool is held',
    );
    const rule = hb.definitions.heartbeatEnded;
    const event = {
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      detail: {
        name: 'hb-ended',
        status: 'TIMED_OUT',
        executionArn: 'arn:aws:states:us-east-1:123456789012:execution:heartbeat:hb-ended',
      },
    };
    assert.ok(rule.eventPattern.detail.status.includes(event.detail.status));
    await runHeartbeatStep(
      made.deps,
      heartbeatStepSchema.parse(transformedInput(rule.target.InputTransformer, event)),
    );
    const planAgain = async () =>
      (
        (await runHeartbeatStep({ ...made.deps, clock: () => now }, heartbeatStepSchema.parse(other))) as {
          granted: number;
        }
      ).granted;
    // Its shards' invocations may run on for up to 15 minutes after the execution ended.
    now += INVOCATION_TAIL_MS - 1;
    assert.equal(await planAgain(), 0, 'held while its invocations may still run');
    now += 1;
    assert.equal(await planAgain(), MAX_SHARDS);
    assert.deepEqual(rule.eventPattern.detail.stateMachineArn, [{ Ref: rule.machineId }]);
    assert.deepEqual(rule.target.Arn, { 'Fn::GetAtt': [rule.functionId, 'Arn'] });
  });
});
