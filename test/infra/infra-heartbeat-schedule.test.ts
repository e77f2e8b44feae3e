// The heartbeat schedule as deployed (SPEC 7.2): whatever the schedule, a shard's budget fits in
// the heartbeat function's timeout and the state machine's timeout covers the plan, the shards and
// the report; and every accepted schedule has a period the execution names follow, so no two
// events of the schedule fall in one `hb-<period>` name (a cron whose period cannot be derived is
// refused when the settings are read).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSettings } from '../../infra/settings.ts';
import { LAMBDA_MAX_MS, planHeartbeatShards } from '../../lib/fleet/heartbeat-shards.ts';
import { heartbeatRunId } from '../../lib/fleet/steps/heartbeat.ts';
import { assemblyDir, flatten, type Synthesized, synth } from './synth.ts';

const SCHEDULES = [
  'rate(1 minute)',
  'rate(5 minutes)',
  'rate(10 minutes)',
  'rate(1 hour)',
  'rate(2 days)',
  'cron(0/2 * * * ? *)',
  'cron(0/10 * * * ? *)',
  'cron(30 * * * ? *)',
  'cron(0 12 * * ? *)',
];

interface Deployed {
  timeoutMs: number;
  periodMs: number;
  hostCostMs: number;
  maxShards: number;
  machineTimeoutMs: number;
}

function deployed(s: Synthesized): Deployed {
  const fn = s.json.Resources[s.id(s.stack.functions.heartbeat.function)]?.Properties ?? {};
  const env = flatten((fn['Environment'] as { Variables: unknown }).Variables) as Record<string, string>;
  const machine = s.json.Resources[s.id(s.stack.machines.heartbeat)]?.Properties ?? {};
  const definition = JSON.parse(flatten(machine['DefinitionString']) as string) as { TimeoutSeconds: number };
  return {
    timeoutMs: Number(fn['Timeout']) * 1000,
    periodMs: Number(env['HEARTBEAT_PERIOD_MS']),
    hostCostMs: Number(env['HEARTBEAT_HOST_COST_MS']),
    maxShards: Number(env['HEARTBEAT_MAX_SHARDS']),
    machineTimeoutMs: definition.TimeoutSeconds * 1000,
  };
}

/** The shard plan the functions make from this environment (functions/heartbeat.ts's defaults). */
function shardPlan(d: Deployed, total: number) {
  return planHeartbeatShards({
    total,
    perHostMs: d.hostCostMs,
    hostTimeoutMs: 30_000,
    deadShare: 0.01,
    periodMs: d.periodMs,
    hostConcurrency: 10,
    maxShards: d.maxShards,
  });
}

describe('the heartbeat schedule, the shard budget and the timeouts', () => {
  const out = assemblyDir();
  const synthesized = new Map<string, Deployed>();
  before(() => {
    for (const schedule of SCHEDULES)
      synthesized.set(schedule, deployed(synth(out.dir, { heartbeatSchedule: schedule })));
  });
  after(() => out.remove());

  it('keeps every shard budget a margin below the heartbeat function timeout, within Lambda’s 15 minutes', () => {
    for (const [schedule, d] of synthesized) {
      assert.ok(d.timeoutMs <= LAMBDA_MAX_MS, `${schedule}: timeout ${d.timeoutMs} ms`);
      for (const total of [1, 1_000, 10_000]) {
        const plan = shardPlan(d, total);
        // The budget, then writing the shard's record: a minute is left for that and a cold start.
        assert.ok(
          plan.budgetMs + 60_000 <= d.timeoutMs,
          `${schedule}: budget ${plan.budgetMs} ms in a ${d.timeoutMs} ms function`,
        );
        assert.ok(plan.expectedShardMs < d.timeoutMs, `${schedule}: expected ${plan.expectedShardMs} ms`);
      }
    }
  });

  it('rate(10 minutes): the 540 000 ms budget runs in a function that outlives it', () => {
    const d = synthesized.get('rate(10 minutes)')!;
    assert.equal(d.periodMs, 600_000);
    const plan = shardPlan(d, 10_000);
    assert.equal(plan.budgetMs, 540_000);
    assert.ok(d.timeoutMs >= 600_000, `timeout ${d.timeoutMs} ms`);
  });

  it('the 5-minute default keeps its 5-minute function and 15-minute execution', () => {
    const d = synthesized.get('rate(5 minutes)')!;
    assert.equal(d.timeoutMs, 300_000);
    assert.equal(d.machineTimeoutMs, 900_000);
  });

  it('the state machine’s timeout covers the plan, a shard to the end of its budget and the report', () => {
    for (const [schedule, d] of synthesized) {
      const plan = shardPlan(d, 10_000);
      assert.ok(d.machineTimeoutMs > plan.budgetMs, `${schedule}: ${d.machineTimeoutMs} ms`);
      // Three steps one after the other, each up to the function's timeout.
      assert.ok(d.machineTimeoutMs >= 3 * d.timeoutMs, `${schedule}: ${d.machineTimeoutMs} ms`);
    }
  });
});

/** Whether a cron field (`*`, `S/N` or a number) matches `value`: the forms the settings accept. */
function fieldMatches(field: string, value: number): boolean {
  if (field === '*') return true;
  const step = /^(\d+)\/(\d+)$/.exec(field);
  if (step) return value >= Number(step[1]) && (value - Number(step[1])) % Number(step[2]) === 0;
  return Number(field) === value;
}

/** The times a `cron(M H * * ? *)` schedule fires over `days` days from 2026-03-01 (UTC). */
function firings(schedule: string, days: number): Date[] {
  const [minute, hour] = /^cron\((.*)\)$/.exec(schedule)![1]!.split(' ') as [string, string];
  const start = Date.UTC(2026, 2, 1);
  const times: Date[] = [];
  for (let t = start; t < start + days * 86_400_000; t += 60_000) {
    const date = new Date(t);
    if (fieldMatches(minute, date.getUTCMinutes()) && fieldMatches(hour, date.getUTCHours()))
      times.push(date);
  }
  return times;
}

describe('cron heartbeat schedules: the period of each, or a refusal at synth', () => {
  const period = (schedule: string) => {
    const out = assemblyDir();
    try {
      return deployed(synth(out.dir, { heartbeatSchedule: schedule })).periodMs;
    } finally {
      out.remove();
    }
  };

  it('derives the period of the cron forms it accepts', () => {
    assert.equal(period('cron(0/2 * * * ? *)'), 120_000);
    assert.equal(period('cron(* * * * ? *)'), 60_000);
    assert.equal(period('cron(5/15 * * * ? *)'), 900_000);
    assert.equal(period('cron(30 * * * ? *)'), 3_600_000);
    assert.equal(period('cron(15 0/6 * * ? *)'), 21_600_000);
    assert.equal(period('cron(0 12 * * ? *)'), 86_400_000);
    assert.equal(period('cron(0 12 ? * * *)'), 86_400_000);
  });

  it('names every firing of an accepted cron schedule’s execution apart', () => {
    for (const schedule of [
      'cron(0/2 * * * ? *)',
      'cron(1/4 * * * ? *)',
      'cron(5/15 * * * ? *)',
      'cron(30 * * * ? *)',
      'cron(15 0/6 * * ? *)',
      'cron(10 3/8 * * ? *)',
      'cron(0 12 * * ? *)',
    ]) {
      const periodMs = period(schedule);
      const times = firings(schedule, 3);
      assert.ok(times.length >= 3, schedule);
      const names = times.map((time) => heartbeatRunId(time, periodMs));
      assert.equal(new Set(names).size, times.length, `${schedule}: two firings share an execution name`);
    }
  });

  it('refuses, naming the setting, a cron whose period it cannot derive', () => {
    for (const schedule of [
      'cron(0/7 * * * ? *)', // 7 does not divide the hour: :56 and the next :00 are 4 minutes apart
      'cron(40/20 * * * ? *)', // :40 and :00 of the next hour are 20 minutes apart, :00 and :40 are 40
      'cron(0,30 * * * ? *)',
      'cron(0-30/5 * * * ? *)',
      'cron(0/5 9-17 * * ? *)',
      'cron(0/5 0/2 * * ? *)',
      'cron(0 0/5 * * ? *)', // 5 does not divide the day
      'cron(0 12 ? * MON-FRI *)',
      'cron(0 12 1 * ? *)',
      'cron(0 12 * 1/2 ? *)',
      'cron(0 12 * * ? 2027)',
      'cron(0 12 * * * *)',
      'cron(0 12 * * ?)',
      'cron(61 * * * ? *)',
    ]) {
      assert.throws(
        () => readSettings((key) => (key === 'heartbeatSchedule' ? schedule : undefined)),
        /^Error: context heartbeatSchedule: expected .*cron/,
        schedule,
      );
    }
  });
});
