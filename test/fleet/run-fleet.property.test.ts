// Random fleets, random rate control, random outcomes and delays (real timers): the result
// always accounts for every target, and the rules of SPEC 4 hold in the order things happened.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BootstrapError } from '../../lib/errors.ts';
import {
  type FleetProgressEvent,
  type HealthReport,
  resolveRateControl,
  runFleet,
  type TargetOutcome,
  type TargetReport,
} from '../../lib/fleet/index.ts';

type Kind = 'success' | 'failure' | 'unreachable' | 'unhealthy';

interface Plan {
  kind: Kind;
  delayMs: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new BootstrapError('TRANSPORT_TIMEOUT', 'aborted'));
      },
      { once: true },
    );
  });

const rateValue = (max: number) =>
  fc.oneof(
    fc.integer({ min: 0, max }),
    fc.integer({ min: 0, max: 100 }).map((p) => `${p}%`),
  );

const scenario = fc
  .record({
    names: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,6}$/), { maxLength: 12 }),
    plans: fc.array(
      fc.record({
        kind: fc.constantFrom<Kind>('success', 'success', 'failure', 'unreachable', 'unhealthy'),
        delayMs: fc.integer({ min: 0, max: 6 }),
      }),
      { minLength: 12, maxLength: 12 },
    ),
    maxConcurrency: fc.oneof(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`),
    ),
    maxErrors: rateValue(4),
    canary: rateValue(3),
    upgrade: fc.boolean(),
    healthGate: fc.boolean(),
    countUnreachableAsErrors: fc.boolean(),
  })
  .map((s) => ({ ...s, plans: s.plans.slice(0, s.names.length) }));

/** What a target that runs ends as, whatever else happens. */
function expectedStatus(plan: Plan, gate: boolean): TargetReport['status'] {
  if (plan.kind === 'failure') return 'failed';
  if (plan.kind === 'unreachable') return 'unreachable';
  return plan.kind === 'unhealthy' && gate ? 'failed' : 'succeeded';
}

describe('runFleet properties', () => {
  it('accounts for every target, skips exactly those never started, never starts one past the budget', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const plans = new Map(s.names.map((name, i) => [name, s.plans[i]!]));
        const command = s.upgrade ? 'product.upgrade' : 'heartbeat.get';
        const gate = s.healthGate;
        const rate = resolveRateControl(
          { maxConcurrency: s.maxConcurrency, maxErrors: s.maxErrors, canary: s.canary },
          s.names.length,
        );
        const called: string[] = [];
        const events: FleetProgressEvent[] = [];
        let active = 0;
        let peak = 0;
        const runTarget = async (server: string, signal: AbortSignal): Promise<TargetOutcome> => {
          called.push(server);
          active += 1;
          peak = Math.max(peak, active);
          try {
            const plan = plans.get(server)!;
            await sleep(plan.delayMs, signal);
            if (plan.kind === 'failure') throw new BootstrapError('HOOK_FAILED', `${server} failed`);
            if (plan.kind === 'unreachable') throw new BootstrapError('UNREACHABLE', `${server} unreachable`);
            return { status: 'succeeded', result: { server } };
          } finally {
            active -= 1;
          }
        };
        const healthCheck = async (server: string, signal: AbortSignal): Promise<HealthReport> => {
          await sleep(1, signal);
          return { status: plans.get(server)!.kind === 'unhealthy' ? 'degraded' : 'healthy' };
        };

        const result = await runFleet({
          operationId: 'op_prop',
          command,
          targets: s.names,
          runTarget,
          healthCheck,
          healthGate: gate,
          maxConcurrency: s.maxConcurrency,
          maxErrors: s.maxErrors,
          canary: s.canary,
          countUnreachableAsErrors: s.countUnreachableAsErrors,
          onProgress: (event) => events.push(event),
        });

        // Selection order, one report each, counts that add up.
        assert.deepEqual(
          result.targets.map((t) => t.server),
          s.names,
        );
        const { total, succeeded, failed, unreachable, skipped } = result.summary;
        assert.equal(total, s.names.length);
        assert.equal(succeeded + failed + unreachable + skipped, total);
        for (const status of ['succeeded', 'failed', 'unreachable', 'skipped'] as const) {
          assert.equal(result.summary[status], result.targets.filter((t) => t.status === status).length);
        }
        const expectStatus = succeeded === total ? 'succeeded' : succeeded === 0 ? 'failed' : 'partial';
        assert.equal(result.status, expectStatus);

        // Skipped is exactly the set never started; started targets end as their plan says.
        const calledSet = new Set(called);
        assert.equal(calledSet.size, called.length, 'no target runs twice');
        for (const target of result.targets) {
          assert.equal(target.status === 'skipped', !calledSet.has(target.server), target.server);
          if (target.status !== 'skipped') {
            assert.equal(target.status, expectedStatus(plans.get(target.server)!, gate), target.server);
          }
        }
        const startedEvents = events.filter((e) => e.type === 'started').map((e) => e.server);
        assert.deepEqual(startedEvents, called, 'targets start in the order of the events');
        assert.deepEqual(
          [...called].sort((a, b) => s.names.indexOf(a) - s.names.indexOf(b)),
          called,
          'targets start in selection order',
        );

        // Concurrency bound, and canaries strictly one at a time.
        assert.ok(peak <= rate.maxConcurrency, `peak ${peak} > ${rate.maxConcurrency}`);
        let running = 0;
        let errors = 0;
        let stopped = false;
        for (const event of events) {
          if (event.type === 'started') {
            assert.ok(!stopped, `${event.server} started after the run stopped`);
            if (event.phase === 'canary') assert.equal(running, 0, 'canaries run one by one');
            running += 1;
          } else if (event.type === 'finished') {
            running -= 1;
            const report = event.report;
            const isError =
              report.status === 'failed' || (report.status === 'unreachable' && s.countUnreachableAsErrors);
            if (isError) errors += 1;
            if (isError && event.phase === 'canary') stopped = true;
            if (event.phase === 'fleet' && errors > rate.maxErrors) stopped = true;
          } else if (event.type === 'stopped') {
            stopped = true;
          }
        }
        // The canary phase proves `canary` successes before any fan-out (or runs out of targets).
        const canaryEvents = events.filter((e) => e.type === 'finished' && e.phase === 'canary');
        const fleetStarted = events.some((e) => e.type === 'started' && e.phase === 'fleet');
        if (fleetStarted) {
          const proven = canaryEvents.filter((e) => e.type === 'finished' && e.report.status === 'succeeded');
          assert.equal(proven.length, Math.min(rate.canary, s.names.length));
        }
        // Without a canary and with all targets run one by one, the result is fully determined.
        if (rate.maxConcurrency === 1 && rate.canary === 0) {
          let budget = 0;
          const expected = s.names.map((name) => {
            if (budget > rate.maxErrors) return 'skipped';
            const status = expectedStatus(plans.get(name)!, gate);
            if (status === 'failed' || (status === 'unreachable' && s.countUnreachableAsErrors)) budget += 1;
            return status;
          });
          assert.deepEqual(
            result.targets.map((t) => t.status),
            expected,
          );
        }
      }),
      { numRuns: 150 },
    );
  });
});
