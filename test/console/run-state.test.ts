// The run view's reading of a rollout (lib/console/assets/run-state.js): target states from the
// fleet run and the targets' own journals, SPEC 4's canary stage, failures and skipped targets.
// The last case feeds it real results of the fleet engine (runFleet), not hand-made ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveRun } from '../../lib/console/assets/run-state.js';
import { BootstrapError } from '../../lib/errors.ts';
import { runFleet } from '../../lib/fleet/run-fleet.ts';

const plan = { targets: ['a', 'b', 'c', 'd'], canary: 1, maxErrors: 0 };
const hookFailed = { code: 'HOOK_FAILED', message: 'upgrade hook of x exited 3' };

describe('deriveRun', () => {
  it('a running run: reported targets, then running and pending ones from their journals', () => {
    const run = deriveRun({ status: 'running', targets: [{ server: 'a', status: 'succeeded' }] }, plan, {
      b: 'running',
      c: 'checking',
    });
    assert.deepEqual(
      run.rows.map((row) => [row.server, row.phase, row.state, row.hasJournal]),
      [
        ['a', 'canary', 'succeeded', true],
        ['b', 'fleet', 'running', true],
        ['c', 'fleet', 'checking', true],
        ['d', 'fleet', 'pending', false],
      ],
    );
    assert.deepEqual(run.canary, { state: 'passed', succeeded: 1, needed: 1 });
    assert.equal(run.finished, false);
    assert.deepEqual(run.skipped, []);
  });

  it('the canary stage runs on the first target, and an unreachable canary is replaced by the next', () => {
    assert.deepEqual(deriveRun({ status: 'running' }, plan, { a: 'running' }).canary, {
      state: 'running',
      server: 'a',
      succeeded: 0,
      needed: 1,
    });
    const replaced = deriveRun(
      {
        status: 'running',
        targets: [
          { server: 'a', status: 'unreachable', error: { code: 'UNREACHABLE', message: 'no route' } },
        ],
      },
      { ...plan, canary: 2 },
      { b: 'running' },
    );
    assert.deepEqual(replaced.canary, { state: 'running', server: 'b', succeeded: 0, needed: 2 });
    assert.deepEqual(
      replaced.rows.map((row) => row.phase),
      ['canary', 'canary', 'fleet', 'fleet'],
    );
    assert.equal(replaced.rows[0]?.hasJournal, false, 'an unreachable host has no journal');
  });

  it('a canary whose hook ended is passed once a later target started, running until then', () => {
    assert.deepEqual(deriveRun({ status: 'running' }, plan, { a: 'checking', b: 'running' }).canary, {
      state: 'passed',
      succeeded: 1,
      needed: 1,
    });
    assert.equal(deriveRun({ status: 'running' }, plan, { a: 'checking' }).canary?.state, 'running');
  });

  it('a failed canary: the stage failed on it, the rest skipped, failures over maxErrors', () => {
    const run = deriveRun(
      {
        status: 'failed',
        targets: [
          { server: 'a', status: 'failed', error: hookFailed },
          { server: 'b', status: 'skipped' },
          { server: 'c', status: 'skipped' },
          { server: 'd', status: 'skipped' },
        ],
      },
      plan,
      {},
    );
    assert.deepEqual(run.canary, { state: 'failed', server: 'a', succeeded: 0, needed: 1 });
    assert.deepEqual(run.skipped, ['b', 'c', 'd']);
    assert.equal(run.failures, 1);
    assert.equal(run.maxErrors, 0);
    assert.equal(run.rows[0]?.hasJournal, true, "a failed hook's journal is linked");
  });

  it('a refused target (LOCKED) has no journal to link; the store’s failure count wins when given', () => {
    const run = deriveRun(
      {
        status: 'partial',
        failures: 2,
        targets: [
          { server: 'a', status: 'succeeded' },
          { server: 'b', status: 'failed', error: { code: 'LOCKED', message: 'held by 42' } },
        ],
      },
      { targets: ['a', 'b'], canary: 1, maxErrors: 1 },
      {},
    );
    assert.equal(run.rows[1]?.hasJournal, false);
    assert.equal(run.failures, 2);
  });

  it('without the plan (opened elsewhere): the reported targets, no canary stage claimed', () => {
    const run = deriveRun({ status: 'running', targets: [{ server: 'x', status: 'succeeded' }] }, null, {});
    assert.deepEqual(
      run.rows.map((row) => row.server),
      ['x'],
    );
    assert.equal(run.canary, null);
    assert.equal(run.maxErrors, null);
  });

  it("reads the fleet engine's own results the way the engine ran them", async () => {
    for (const failing of [[], ['a'], ['c'], ['b', 'c']]) {
      const result = await runFleet({
        operationId: 'op_test',
        command: 'product.upgrade',
        targets: plan.targets,
        canary: 2,
        maxErrors: 0,
        maxConcurrency: 1,
        healthGate: false,
        runTarget: async (server) => {
          if (failing.includes(server)) throw new BootstrapError('HOOK_FAILED', `${server} failed`);
          return { status: 'succeeded', result: {} };
        },
      });
      const run = deriveRun(result, { ...plan, canary: 2 }, {});
      const firstFailure = plan.targets.find((server) => failing.includes(server));
      const canaryFailed = firstFailure !== undefined && plan.targets.indexOf(firstFailure) < 2;
      assert.equal(run.canary?.state, canaryFailed ? 'failed' : 'passed', JSON.stringify(failing));
      assert.deepEqual(
        run.rows.map((row) => row.state),
        result.targets.map((target) => target.status),
      );
      assert.equal(run.failures, result.summary.failed);
      assert.deepEqual(
        run.skipped,
        result.targets.filter((target) => target.status === 'skipped').map((target) => target.server),
      );
    }
  });
});
