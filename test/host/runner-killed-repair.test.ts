// A long operation whose runner was killed (-9) mid-hook (SPEC 2.5, 2.6): read before anything else
// happens, it is `failed` with HOOK_FAILED (a killed runner is no bug of the tool's, so not
// INTERNAL) and a finishedAt; and the next mutating operation, which takes its stale lock over,
// finishes it on the host, under its own lock and before its own work: the journal failed and
// finished, naming the step that was running, and the product it left `provisioning`/`upgrading`
// `failed` (the old version stays). The operation that does the work still records
// staleLockRemoved, also when the repair made its first plan out of date. Under the seven shells
// (busybox sh with busybox only, so without flock), and with dash without flock (BOOTSTRAP_NO_FLOCK=1).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HeartbeatAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { holdLock } from '../support/held-lock.ts';
import { killSession, pidAlive, readIfExists, sevenShells, waitFor } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { useHostScratch } from './runner-setup.ts';

const scratch = useHostScratch();

const MODES: Array<[string, { shell: string; env: NodeJS.ProcessEnv }]> = [
  ...sevenShells(scratch.busybox).map(
    ([name, shell, env]): [string, { shell: string; env: NodeJS.ProcessEnv }] => [
      name,
      { shell, env: { ...env } },
    ],
  ),
  ['dash, no flock', { shell: '/usr/bin/dash', env: { BOOTSTRAP_NO_FLOCK: '1' } }],
];

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

type ProductAnswer = { config: Record<string, string>; state: Record<string, string> };

const journalFile = (sandbox: Sandbox, id: string) => join(sandbox.stateDir, 'operations', `${id}.json`);
const onDisk = (sandbox: Sandbox, id: string) =>
  JSON.parse(readFileSync(journalFile(sandbox, id), 'utf8')) as Journal;
const productOf = async (host: HostTarget, product: string) =>
  (await runCommand(host, { command: 'product.get', product })) as ProductAnswer;

/** SIGKILL to a runner; its hook goes on (hooks never hold the lock) until the test ends. */
async function killRunner(pid: number): Promise<void> {
  scratch.onCleanup(() => killSession(pid));
  process.kill(pid, 'SIGKILL');
  await waitFor('the runner to die', () => !pidAlive(pid));
}

/** What the host wrote into the killed operation's journal, checked against operation.get. */
async function assertFinished(
  sandbox: Sandbox,
  host: HostTarget,
  killed: Journal,
  step: { product: string; action: string },
): Promise<Journal> {
  const file = onDisk(sandbox, killed.id);
  assert.equal(file.status, 'failed');
  assert.match(file.finishedAt ?? '', ISO);
  assert.ok((file.finishedAt ?? '') >= killed.startedAt);
  assert.equal(file.error?.code, 'HOOK_FAILED');
  assert.deepEqual(file.error?.details, { pid: killed.pid, abandoned: true, ...step });
  assert.match(file.error?.message ?? '', new RegExp(`pid ${killed.pid}.*killed`));
  assert.match(file.error?.message ?? '', new RegExp(`${step.action} hook of ${step.product}`));
  assert.deepEqual(file.steps, [], 'the steps stay as they were');
  assert.equal(file.startedAt, killed.startedAt);
  const got = (await runCommand(host, { command: 'operation.get', operationId: killed.id })) as Journal;
  const outcome = (j: Journal) => [j.id, j.status, j.pid, j.startedAt, j.finishedAt, j.error, j.steps];
  assert.deepEqual(outcome(got), outcome(file));
  return file;
}

for (const [mode, options] of MODES) {
  describe(`a runner killed with -9 mid-hook (${mode})`, () => {
    const setUp = async () => {
      const sandbox = scratch.sandbox();
      const host = sandbox.host(createLocalTransport(options));
      const first = (await runCommand(host, {
        command: 'product.upgrade',
        product: 'deepfiler',
        version: '1.0',
      })) as Journal;
      assert.equal(first.status, 'succeeded');
      return { sandbox, host };
    };

    it('read at once: failed, HOOK_FAILED, with a finishedAt; the journal file is left to the next holder', async () => {
      const { sandbox, host } = await setUp();
      const held = await holdLock(sandbox, host, { product: 'deepfiler', version: '2.0' });
      await killRunner(held.journal.pid);
      const got = (await runCommand(host, {
        command: 'operation.get',
        operationId: held.journal.id,
      })) as Journal;
      assert.equal(got.status, 'failed');
      assert.equal(got.error?.code, 'HOOK_FAILED', got.error?.message);
      assert.match(got.error?.message ?? '', new RegExp(`pid ${held.journal.pid}`));
      assert.match(got.finishedAt ?? '', ISO);
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(beat.lastOperation?.status, 'failed');
      assert.match(beat.lastOperation?.finishedAt ?? '', ISO);
      // Reads change nothing.
      assert.equal(onDisk(sandbox, held.journal.id).status, 'running');
    });

    it('product.set of another product takes the stale lock over and finishes the upgrade it names', async () => {
      const { sandbox, host } = await setUp();
      const held = await holdLock(sandbox, host, { product: 'deepfiler', version: '2.0' });
      await killRunner(held.journal.pid);
      assert.equal((await productOf(host, 'deepfiler')).state['status'], 'upgrading');
      const set = (await runCommand(
        host,
        { command: 'product.set', product: 'haproxy', values: { maxconn: '10' } },
        { waitLockSeconds: 5 },
      )) as ProductAnswer;
      assert.equal(set.config['maxconn'], '10');
      const file = await assertFinished(sandbox, host, held.journal, {
        product: 'deepfiler',
        action: 'upgrade',
      });
      const deepfiler = await productOf(host, 'deepfiler');
      assert.equal(deepfiler.state['status'], 'failed');
      assert.equal(deepfiler.state['version'], '1.0', 'the old version stays');
      assert.equal(deepfiler.state['last_operation'], held.journal.id);
      assert.match(deepfiler.state['updated_at'] ?? '', ISO);
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.deepEqual(beat.lastOperation, {
        id: held.journal.id,
        command: 'product.upgrade',
        status: 'failed',
        finishedAt: file.finishedAt,
      });
      assert.equal(beat.lock, null);
    });

    it('product.set of the product it left upgrading: set on the finished state, never back to upgrading', async () => {
      const { sandbox, host } = await setUp();
      const held = await holdLock(sandbox, host, { product: 'deepfiler', version: '2.0' });
      await killRunner(held.journal.pid);
      const set = (await runCommand(host, {
        command: 'product.set',
        product: 'deepfiler',
        values: { threads: '8' },
      })) as ProductAnswer;
      assert.equal(set.config['threads'], '8');
      assert.equal(set.state['status'], 'failed');
      assert.equal(set.state['version'], '1.0');
      assert.equal((await productOf(host, 'deepfiler')).state['status'], 'failed');
      await assertFinished(sandbox, host, held.journal, { product: 'deepfiler', action: 'upgrade' });
    });

    it('a new upgrade takes a killed provision over: it finishes it, and records staleLockRemoved', async () => {
      const { sandbox, host } = await setUp();
      sandbox.behave('haproxy', 'provision', { sleep: 30, output: 'provision sleeps' });
      const provision = (await runCommand(
        host,
        { command: 'server.provision', role: 'edge' },
        { detach: true },
      )) as Journal;
      const log = join(sandbox.stateDir, 'logs', `${provision.id}.log`);
      await waitFor('the provision hook to run', () => readIfExists(log)?.includes('provision sleeps'));
      await killRunner(provision.pid);
      assert.equal((await productOf(host, 'haproxy')).state['status'], 'provisioning');
      const deepfilerBefore = await productOf(host, 'deepfiler');

      const upgrade = (await runCommand(
        host,
        { command: 'product.upgrade', product: 'haproxy', version: '3.0' },
        { waitLockSeconds: 5 },
      )) as Journal;
      assert.equal(upgrade.status, 'succeeded', upgrade.error?.message);
      assert.equal(upgrade.staleLockRemoved?.pid, provision.pid);
      assert.equal(upgrade.staleLockRemoved?.operation, provision.id);
      assert.equal(upgrade.staleLockRemoved?.command, 'server.provision');
      await assertFinished(sandbox, host, provision, { product: 'haproxy', action: 'provision' });
      const haproxy = await productOf(host, 'haproxy');
      assert.equal(haproxy.state['status'], 'provisioned');
      assert.equal(haproxy.state['version'], '3.0');
      assert.deepEqual(
        await productOf(host, 'deepfiler'),
        deepfilerBefore,
        'a product it never reached is untouched',
      );
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(beat.lastOperation?.id, upgrade.id);
      assert.equal(beat.lock, null);
    });
  });
}
