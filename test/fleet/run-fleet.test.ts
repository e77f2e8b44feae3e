// A fleet of "hosts" that are real `sh` processes on this machine (the local transport): each
// one sleeps and exits as told; an unreachable one names a shell that does not exist.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import {
  type FleetProgressEvent,
  type HealthReport,
  type RunFleetOptions,
  runFleet,
  type TargetOutcome,
} from '../../lib/fleet/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { statuses, thenSkipped } from '../support/fleet-results.ts';

interface Host {
  /** Seconds the program sleeps before it exits. */
  sleep?: number;
  exit?: number;
  unreachable?: boolean;
  /** What `heartbeat.appstack` says after the operation. */
  health?: HealthReport['status'];
  /** A program of its own instead of sleep-and-exit. */
  program?: string;
}

function makeFleet(hosts: Record<string, Host>) {
  let active = 0;
  const observed = { peak: 0, started: [] as string[], aborted: [] as string[] };
  const runTarget = async (server: string, signal: AbortSignal): Promise<TargetOutcome> => {
    const host = hosts[server] ?? {};
    const transport = createLocalTransport({
      target: server,
      ...(host.unreachable ? { shell: '/nonexistent/sh' } : {}),
    });
    observed.started.push(server);
    active += 1;
    observed.peak = Math.max(observed.peak, active);
    signal.addEventListener('abort', () => observed.aborted.push(server), { once: true });
    try {
      const program = host.program ?? `sleep ${host.sleep ?? 0.05}\nexit ${host.exit ?? 0}\n`;
      const answer = await transport.exec({ program, signal });
      if (answer.exitCode !== 0) {
        throw new BootstrapError('HOOK_FAILED', `${server}: upgrade exited ${answer.exitCode}`, {
          exitCode: answer.exitCode,
        });
      }
      return { status: 'succeeded', result: { server, version: '3.2.1' } };
    } finally {
      active -= 1;
      await transport.close();
    }
  };
  const healthCheck = async (server: string, signal: AbortSignal): Promise<HealthReport> => {
    const transport = createLocalTransport({ target: server });
    const status = hosts[server]?.health ?? 'healthy';
    const answer = await transport.exec({
      program: `printf '{"status":"%s","products":{}}' ${status}\n`,
      signal,
    });
    return JSON.parse(answer.stdout) as HealthReport;
  };
  return { runTarget, healthCheck, observed };
}

const names = (count: number) => Array.from({ length: count }, (_, i) => `web-${i + 1}`);

function run(
  hosts: Record<string, Host>,
  options: Partial<RunFleetOptions> & { targets: readonly string[] },
) {
  const fleet = makeFleet(hosts);
  const events: FleetProgressEvent[] = [];
  const done = runFleet({
    operationId: 'op_01JTEST0000000000000000000',
    command: 'heartbeat.get',
    runTarget: fleet.runTarget,
    healthCheck: fleet.healthCheck,
    onProgress: (event) => events.push(event),
    ...options,
  });
  return done.then((result) => ({ result, events, observed: fleet.observed }));
}

describe('runFleet over local sh hosts', () => {
  it('runs at most maxConcurrency at a time: 1, 3 and "50%" of 5 (2)', async () => {
    for (const [maxConcurrency, count, peak] of [
      [1, 5, 1],
      [3, 7, 3],
      ['50%', 5, 2],
    ] as const) {
      const { result, observed } = await run({}, { targets: names(count), maxConcurrency });
      assert.equal(observed.peak, peak, `maxConcurrency ${maxConcurrency}`);
      assert.equal(result.status, 'succeeded');
      assert.deepEqual(result.summary, {
        total: count,
        succeeded: count,
        failed: 0,
        unreachable: 0,
        skipped: 0,
      });
      assert.deepEqual(observed.started, names(count), 'targets start in selection order');
    }
  });

  it('with maxErrors 0, stops at the first failure: running targets finish, the rest are skipped', async () => {
    const hosts = { 'web-1': { sleep: 1 }, 'web-2': { sleep: 0, exit: 3 } };
    const { result, events, observed } = await run(hosts, {
      targets: names(5),
      maxConcurrency: 2,
      maxErrors: 0,
    });
    assert.deepEqual(observed.started, ['web-1', 'web-2']);
    assert.deepEqual(statuses(result), thenSkipped(['web-1:succeeded', 'web-2:failed'], 5));
    assert.equal(result.status, 'partial');
    const failed = result.targets[1];
    assert.ok(failed?.status === 'failed');
    assert.deepEqual(failed.error, {
      code: 'HOOK_FAILED',
      message: 'web-2: upgrade exited 3',
      details: { exitCode: 3 },
    });
    assert.deepEqual(
      events.filter((e) => e.type === 'stopped'),
      [{ type: 'stopped', reason: 'MAX_ERRORS_EXCEEDED', errors: 1, maxErrors: 0 }],
    );
  });

  it('with maxErrors 1, tolerates one failure and stops at the second', async () => {
    const hosts = { 'web-2': { exit: 1 }, 'web-4': { exit: 1 } };
    const { result } = await run(hosts, { targets: names(6), maxConcurrency: 1, maxErrors: 1 });
    assert.deepEqual(result.summary, { total: 6, succeeded: 2, failed: 2, unreachable: 0, skipped: 2 });
    assert.deepEqual(statuses(result).slice(4), ['web-5:skipped', 'web-6:skipped']);
  });

  it('with maxErrors "25%" of 8, tolerates two failures and stops at the third', async () => {
    const hosts = { 'web-1': { exit: 1 }, 'web-3': { exit: 1 }, 'web-5': { exit: 1 } };
    const { result, observed } = await run(hosts, { targets: names(8), maxConcurrency: 1, maxErrors: '25%' });
    assert.deepEqual(observed.started, names(5));
    assert.deepEqual(result.summary, { total: 8, succeeded: 2, failed: 3, unreachable: 0, skipped: 3 });
  });

  it('reports unreachable hosts apart, without spending the error budget unless asked', async () => {
    const hosts = { 'web-1': { unreachable: true } };
    const { result } = await run(hosts, { targets: names(3), maxConcurrency: 1, maxErrors: 0 });
    assert.deepEqual(result.summary, { total: 3, succeeded: 2, failed: 0, unreachable: 1, skipped: 0 });
    const first = result.targets[0];
    assert.ok(first?.status === 'unreachable');
    assert.equal(first.error.code, 'UNREACHABLE');
    assert.equal(result.status, 'partial');

    const counted = await run(hosts, {
      targets: names(3),
      maxConcurrency: 1,
      countUnreachableAsErrors: true,
    });
    assert.deepEqual(statuses(counted.result), ['web-1:unreachable', 'web-2:skipped', 'web-3:skipped']);
  });

  it('runs canaries one by one first; a failed canary stops the run', async () => {
    const hosts = { 'web-2': { exit: 4 } };
    const { result, events, observed } = await run(hosts, {
      command: 'product.upgrade',
      targets: names(6),
      canary: 2,
      maxConcurrency: 5,
      maxErrors: 3,
      healthGate: false,
    });
    assert.deepEqual(observed.started, ['web-1', 'web-2']);
    assert.equal(observed.peak, 1);
    assert.deepEqual(statuses(result), thenSkipped(['web-1:succeeded', 'web-2:failed'], 6));
    assert.ok(events.some((e) => e.type === 'stopped' && e.reason === 'CANARY_FAILED'));
    assert.ok(events.every((e) => e.type !== 'started' || e.phase === 'canary'));
  });

  it('replaces an unreachable canary with the next target, then fans out', async () => {
    const hosts = { 'web-1': { unreachable: true }, 'web-3': { sleep: 0.3 }, 'web-4': { sleep: 0.3 } };
    const { result, events } = await run(hosts, {
      command: 'product.upgrade',
      targets: names(5),
      maxConcurrency: 3,
      healthGate: false,
    });
    const phases = events.flatMap((e) => (e.type === 'started' ? [`${e.server}:${e.phase}`] : []));
    assert.deepEqual(phases, ['web-1:canary', 'web-2:canary', 'web-3:fleet', 'web-4:fleet', 'web-5:fleet']);
    assert.deepEqual(result.summary, { total: 5, succeeded: 4, failed: 0, unreachable: 1, skipped: 0 });
  });

  it('fails a target whose appstack is not healthy after a successful upgrade (health gate)', async () => {
    const hosts = { 'web-3': { health: 'degraded' as const } };
    const { result } = await run(hosts, {
      command: 'product.upgrade',
      args: { product: 'deepfiler', version: '3.2.1' },
      targets: names(5),
      maxConcurrency: 1,
      maxErrors: 0,
    });
    assert.deepEqual(
      statuses(result),
      thenSkipped(['web-1:succeeded', 'web-2:succeeded', 'web-3:failed'], 5),
    );
    const gated = result.targets[2];
    assert.ok(gated?.status === 'failed');
    assert.equal(gated.error.code, 'UNHEALTHY');
    assert.deepEqual(gated.error.details, {
      server: 'web-3',
      reason: 'HEALTH_GATE_FAILED',
      appstack: { status: 'degraded', products: {} },
      result: { server: 'web-3', version: '3.2.1' },
    });
    assert.equal(result.status, 'partial');
  });

  it('releases each target once its operation and health check are over, never a skipped one', async () => {
    const hosts = {
      'web-1': { sleep: 0.2 },
      'web-3': { exit: 1 },
      'web-4': { unreachable: true },
      'web-5': { exit: 1 },
    };
    const released: string[] = [];
    const order: string[] = [];
    const events: FleetProgressEvent[] = [];
    const fleet = makeFleet(hosts);
    const result = await runFleet({
      operationId: 'op_01JTEST0000000000000000000',
      command: 'product.upgrade',
      args: { product: 'deepfiler', version: '3.2.1' },
      targets: names(7),
      canary: 1,
      maxConcurrency: 1,
      maxErrors: 1,
      runTarget: fleet.runTarget,
      healthCheck: async (server, signal) => {
        order.push(`health ${server}`);
        return fleet.healthCheck(server, signal);
      },
      onProgress: (event) => {
        events.push(event);
        if (event.type === 'finished') order.push(`finished ${event.server}`);
      },
      release: (server) => {
        released.push(server);
        order.push(`release ${server}`);
      },
    });
    const ran = result.targets.filter((t) => t.status !== 'skipped').map((t) => t.server);
    assert.deepEqual(ran, names(5), 'the second failure stops the run');
    assert.deepEqual([...released].sort(), [...ran].sort(), 'every target that ran, once; no skipped one');
    for (const server of ran) {
      const at = order.indexOf(`release ${server}`);
      assert.ok(at > order.lastIndexOf(`health ${server}`), `${server} released after its health check`);
      assert.ok(at < order.indexOf(`finished ${server}`), `${server} released before it is reported`);
    }
  });

  it('needs a health check when the gate is on, and skips the gate when it is off', async () => {
    const fleet = makeFleet({ 'web-1': { health: 'down' } });
    await assert.rejects(
      runFleet({
        operationId: 'op_x',
        command: 'product.upgrade',
        targets: ['web-1'],
        runTarget: fleet.runTarget,
      }),
      (error: unknown) => error instanceof BootstrapError && error.code === 'INTERNAL',
    );
    const { result } = await run(
      { 'web-1': { health: 'down' } },
      {
        command: 'product.upgrade',
        targets: ['web-1'],
        healthGate: false,
      },
    );
    assert.equal(result.status, 'succeeded');
  });
});

describe('runFleet timeouts and aborts', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-timeout-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives up on a target after targetTimeoutMs: failed TRANSPORT_TIMEOUT, its process ended', async () => {
    const pidFile = join(dir, 'pid');
    const hosts = { 'web-2': { program: `echo $$ > '${pidFile}'\nexec sleep 30\n` } };
    const { result, observed } = await run(hosts, {
      targets: names(3),
      maxConcurrency: 3,
      maxErrors: 1,
      targetTimeoutMs: 1500,
    });
    assert.deepEqual(statuses(result), ['web-1:succeeded', 'web-2:failed', 'web-3:succeeded']);
    const timedOut = result.targets[1];
    assert.ok(timedOut?.status === 'failed');
    assert.equal(timedOut.error.code, 'TRANSPORT_TIMEOUT');
    assert.deepEqual(timedOut.error.details, { server: 'web-2', reason: 'TARGET_TIMEOUT', timeoutMs: 1500 });
    assert.deepEqual(observed.aborted, ['web-2']);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    await waitUntilGone(pid);
  });

  it('skips what has not started once the caller aborts, and aborts what runs', async () => {
    const controller = new AbortController();
    const hosts = { 'web-1': { program: 'exec sleep 30\n' } };
    const running = run(hosts, {
      targets: names(4),
      maxConcurrency: 1,
      signal: controller.signal,
      onProgress: (event) => {
        if (event.type === 'started') setTimeout(() => controller.abort(), 100);
      },
    });
    const { result, observed } = await running;
    assert.deepEqual(observed.aborted, ['web-1']);
    assert.deepEqual(statuses(result), thenSkipped(['web-1:unreachable'], 4));
    assert.equal(result.status, 'failed');
  });
});

async function waitUntilGone(pid: number): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`process ${pid} still runs after the target timed out`);
}
