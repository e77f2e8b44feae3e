// SPEC 2.6 and 4: a target whose `heartbeat.appstack` answers `degraded` or `down` after its
// upgrade fails the health gate as `UNHEALTHY` (exit 7 on its own, counted as a failed target in
// a fleet run), with the appstack answer, its failing checks and the operation's own result kept;
// the same on every driver: one target, the in-process fleet run and the Step Functions step.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BootstrapError, exitCodeFor } from '../../lib/errors.ts';
import { runFleet } from '../../lib/fleet/run-fleet.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import { planFleetRun } from '../../lib/fleet/steps/plan.ts';
import { runTargetStep } from '../../lib/fleet/steps/target-step.ts';
import { type HealthReport, runOneTarget } from '../../lib/fleet/target.ts';
import { createHostDoubles } from '../support/host-double.ts';

const degraded = {
  status: 'degraded',
  products: {
    haproxy: {
      status: 'unhealthy',
      checks: [
        { check: 'process:haproxy', ok: true },
        { check: 'exec:/srv/hooks/haproxy.check.sh', ok: false, detail: 'exited 1' },
      ],
    },
    deepfiler: { status: 'healthy', checks: [{ check: 'port:8443', ok: true }] },
  },
} as const;

const upgraded = async () => ({ status: 'succeeded' as const, result: { id: 'op_1', status: 'succeeded' } });

describe('the health gate', () => {
  it('a degraded appstack after a successful upgrade: failed, UNHEALTHY, its answer and failing checks kept', async () => {
    const report = await runOneTarget('web-2', {
      command: 'product.upgrade',
      runTarget: upgraded,
      healthCheck: async () => structuredClone(degraded) as unknown as HealthReport,
      healthGate: true,
    });
    assert.ok(report.status === 'failed');
    assert.equal(report.error.code, 'UNHEALTHY');
    assert.equal(exitCodeFor(report.error.code), 7);
    assert.deepEqual(report.error.details, {
      server: 'web-2',
      reason: 'HEALTH_GATE_FAILED',
      appstack: degraded,
      result: { id: 'op_1', status: 'succeeded' },
    });
    assert.match(report.error.message, /heartbeat\.appstack is degraded after product\.upgrade/);
    assert.match(report.error.message, /failing haproxy exec:\/srv\/hooks\/haproxy\.check\.sh/);
    assert.doesNotMatch(report.error.message, /process:haproxy|port:8443/, 'only the failing checks');
  });

  it('a down appstack: UNHEALTHY', async () => {
    const report = await runOneTarget('web-3', {
      command: 'product.upgrade',
      runTarget: upgraded,
      healthCheck: async () => ({ status: 'down' }),
      healthGate: true,
    });
    assert.ok(report.status === 'failed');
    assert.equal(report.error.code, 'UNHEALTHY');
    assert.deepEqual(report.error.details['appstack'], { status: 'down' });
  });

  it('an appstack that could not be read: UNHEALTHY with what prevented it, the upgrade’s result kept', async () => {
    const report = await runOneTarget('web-4', {
      command: 'product.upgrade',
      runTarget: upgraded,
      healthCheck: async () => {
        throw new BootstrapError('UNREACHABLE', 'web-4: connection refused', { server: 'web-4' });
      },
      healthGate: true,
    });
    assert.equal(report.status, 'failed', 'the host was reached for its upgrade: failed, not unreachable');
    assert.ok(report.status === 'failed');
    assert.equal(report.error.code, 'UNHEALTHY');
    assert.equal((report.error.details['error'] as { code: string }).code, 'UNREACHABLE');
    assert.equal(report.error.details['reason'], 'HEALTH_GATE_FAILED');
    assert.deepEqual(report.error.details['result'], { id: 'op_1', status: 'succeeded' });
    assert.match(report.error.message, /heartbeat\.appstack could not be read after product\.upgrade/);
  });

  it('in a fleet run: the unhealthy target counts as failed, and with maxErrors 0 no new target starts', async () => {
    const started: string[] = [];
    const result = await runFleet({
      operationId: 'op_gate',
      command: 'product.upgrade',
      targets: ['a', 'b', 'c'],
      maxErrors: 0,
      maxConcurrency: 1,
      canary: 0,
      runTarget: async (server) => {
        started.push(server);
        return upgraded();
      },
      healthCheck: async (server) => ({ status: server === 'a' ? 'degraded' : 'healthy' }),
    });
    const [first] = result.targets;
    assert.ok(first?.status === 'failed');
    assert.equal(first.error.code, 'UNHEALTHY');
    assert.deepEqual(result.summary, { total: 3, succeeded: 0, failed: 1, unreachable: 0, skipped: 2 });
    assert.deepEqual(started, ['a']);
  });

  it('on Step Functions: the target step reports UNHEALTHY and counts it against maxErrors', async () => {
    const hosts = createHostDoubles(3);
    hosts.behaviour.set('host-00001', 'unhealthy');
    const deps: StepDeps = {
      fleet: hosts.fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      blobs: createMemoryBlobStore('runs'),
      workFor: () => hosts.work(),
    };
    const request = { select: 'all', product: 'deepfiler', version: '3.2.1', canary: 0, maxErrors: 0 };
    const plan = await planFleetRun(deps, {
      operationId: 'op_gate_sfn',
      startedAt: '2026-11-27T12:00:00Z',
      request,
    });
    const step = (index: number) =>
      runTargetStep(deps, {
        operationId: 'op_gate_sfn',
        request,
        maxErrors: plan.rate.maxErrors,
        healthGate: plan.healthGate,
        item: { server: hosts.names[index]!, index },
      });
    const report = await step(0);
    assert.ok(report.status === 'failed');
    assert.equal(report.error.code, 'UNHEALTHY');
    assert.equal(report.error.details['reason'], 'HEALTH_GATE_FAILED');
    assert.equal((await deps.store.get('op_gate_sfn'))?.failures, 1);
    assert.equal((await step(1)).status, 'skipped');
  });
});
