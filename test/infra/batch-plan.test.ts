import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BatchItem,
  type BatchUpgradeRequest,
  batchExecutionName,
  MAX_MAP_CONCURRENCY,
  planBatch,
  STEP_FUNCTIONS_THRESHOLD,
  usesStepFunctions,
} from '../../infra/batch-plan.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { resolveRateControl } from '../../lib/fleet/rate.ts';

const base: BatchUpgradeRequest = { select: 'all', product: 'deepfiler', version: '3.2.1' };
const hosts = (n: number) => Array.from({ length: n }, (_, i) => `web-${i + 1}`);
const plan = (request: BatchUpgradeRequest, targets: string[]) =>
  planBatch({ operationId: 'op_01J', request, targets, bucket: 'runs-bucket' });

describe('batch plans for the state machine', () => {
  it('goes to Step Functions only past the threshold', () => {
    assert.equal(STEP_FUNCTIONS_THRESHOLD, 200);
    assert.equal(usesStepFunctions(200), false);
    assert.equal(usesStepFunctions(201), true);
    assert.equal(usesStepFunctions(0), false);
  });

  it('with SPEC 4’s defaults: one canary, 10 at a time, no error tolerated, health gate on', () => {
    const { plan: p, objects } = plan(base, hosts(500));
    assert.deepEqual(p, {
      total: 500,
      rate: { maxConcurrency: 10, maxErrors: 0, canary: 1 },
      healthGate: true,
      counts: { canary: 1, fleet: 499 },
      runs: {
        bucket: 'runs-bucket',
        canaryKey: 'runs/op_01J/canary.json',
        fleetKey: 'runs/op_01J/fleet.json',
        canaryResultsPrefix: 'runs/op_01J/canary-results',
        fleetResultsPrefix: 'runs/op_01J/fleet-results',
        resultKey: 'runs/op_01J/result.json',
      },
    });
    assert.deepEqual(
      objects.map((o) => o.key),
      ['runs/op_01J/canary.json', 'runs/op_01J/fleet.json'],
    );
    assert.deepEqual(JSON.parse(objects[0]!.body), [{ server: 'web-1', index: 0 }]);
    assert.deepEqual((JSON.parse(objects[1]!.body) as BatchItem[])[0], { server: 'web-2', index: 1 });
  });

  it('resolves percentages exactly as the in-process run does, and keeps the health gate off when asked', () => {
    const request = { ...base, maxConcurrency: '25%', maxErrors: '10%', canary: '1%', healthGate: false };
    const { plan: p } = plan(request, hosts(1000));
    assert.deepEqual(p.rate, { maxConcurrency: 250, maxErrors: 100, canary: 10 });
    assert.deepEqual(p.counts, { canary: 10, fleet: 990 });
    assert.equal(p.healthGate, false);
  });

  it('caps concurrency at what a Distributed Map runs at once', () => {
    const { plan: p } = plan({ ...base, maxConcurrency: '100%' }, hosts(12_000));
    assert.equal(p.rate.maxConcurrency, MAX_MAP_CONCURRENCY);
  });

  it('refuses what the in-process run refuses, with the same error', () => {
    for (const bad of [
      { maxConcurrency: 0 },
      { maxErrors: '101%' },
      { canary: '-1' },
      { maxConcurrency: '2.5' },
    ]) {
      assert.throws(
        () => plan({ ...base, ...bad }, hosts(300)),
        (error: unknown) => error instanceof BootstrapError && error.code === 'INVALID_REQUEST',
      );
    }
  });

  it('splits any selection into canaries then the rest, in order, each target once, with rate.ts’s counts', () => {
    const rate = fc.oneof(
      fc.nat({ max: 5000 }),
      fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.option(rate, { nil: undefined }),
        fc.option(rate, { nil: undefined }),
        fc.option(rate, { nil: undefined }),
        (n, maxConcurrency, maxErrors, canary) => {
          const request: BatchUpgradeRequest = { ...base };
          if (maxConcurrency !== undefined && maxConcurrency !== 0 && maxConcurrency !== '0%') {
            request.maxConcurrency = maxConcurrency;
          }
          if (maxErrors !== undefined) request.maxErrors = maxErrors;
          if (canary !== undefined) request.canary = canary;
          const targets = hosts(n);
          const { plan: p, objects } = plan(request, targets);
          const expected = resolveRateControl(request, n);
          assert.deepEqual(p.rate, {
            ...expected,
            maxConcurrency: Math.min(expected.maxConcurrency, MAX_MAP_CONCURRENCY),
          });
          const canaries = JSON.parse(objects[0]!.body) as BatchItem[];
          const rest = JSON.parse(objects[1]!.body) as BatchItem[];
          assert.equal(canaries.length, p.counts.canary);
          assert.equal(rest.length, p.counts.fleet);
          assert.deepEqual(
            [...canaries, ...rest],
            targets.map((server, index) => ({ server, index })),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('names executions after the operation, within Step Functions’ 80 characters', () => {
    assert.equal(batchExecutionName('op_01J9ZQ'), 'op_01J9ZQ');
    const long = `op_${'a'.repeat(125)}`;
    const name = batchExecutionName(long);
    assert.equal(name.length, 72);
    assert.ok(name.startsWith(long.slice(0, 63)));
    assert.equal(batchExecutionName(long), name);
    assert.notEqual(batchExecutionName(`${long.slice(0, -1)}b`), name);
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/), (id) => {
        const n = batchExecutionName(id);
        assert.ok(n.length >= 1 && n.length <= 80);
        assert.match(n, /^[A-Za-z0-9_-]+$/);
      }),
    );
  });
});
