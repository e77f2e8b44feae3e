// The lock of SPEC 2.3 with real processes, in both of its forms: flock(1) where the host has it,
// and the exclusive create checked against PID and start time (BOOTSTRAP_NO_FLOCK=1, as on a
// busybox-only host).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import type { HeartbeatAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { holdLock } from '../support/held-lock.ts';
import { killSession, pidAlive, pidStart, readIfExists, waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const sandboxes: Sandbox[] = [];
const cleanups: Array<() => void> = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
  for (const sandbox of sandboxes) sandbox.cleanup();
});

function setUp(mode: 'flock' | 'no-flock'): { sandbox: Sandbox; host: HostTarget } {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  const env = mode === 'no-flock' ? { BOOTSTRAP_NO_FLOCK: '1' } : {};
  return { sandbox, host: sandbox.host(createLocalTransport({ env })) };
}

const lockPath = (sandbox: Sandbox) => join(sandbox.stateDir, 'bootstrap.pid');

/** A sandbox host on which command `name` only fails, saying `message`: a host-side failure on demand. */
function hostWithFailing(name: string, message: string, status: number, env: NodeJS.ProcessEnv = {}) {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  const bin = join(sandbox.root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, name), `#!/bin/sh\necho '${message}' >&2\nexit ${status}\n`, { mode: 0o755 });
  return sandbox.host(createLocalTransport({ env: { ...env, PATH: `${bin}:${process.env['PATH']}` } }));
}

const errorOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => null,
    (e: unknown) => e,
  );

/** A `sleep`, and a lock record naming it with its true start time: a live holder, proven by /proc. */
async function writeLiveRecord(sandbox: Sandbox): Promise<{ sleeper: ChildProcess; pid: number }> {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  cleanups.push(() => sleeper.kill('SIGKILL'));
  const pid = await waitFor(
    'sleep to start',
    () => sleeper.pid !== undefined && pidAlive(sleeper.pid) && sleeper.pid,
  );
  writeFileSync(
    lockPath(sandbox),
    `${pid}\noperation=op_live\ncommand=server.mode\nstarted_at=2020-01-01T00:00:00Z\npid_start=${pidStart(pid)}\n`,
  );
  return { sleeper, pid };
}

/** A hook that fails loudly if two of its runs ever overlap, and records the order of runs. */
function overlapDetectingHook(sandbox: Sandbox, product: string): void {
  const out = join(sandbox.root, 'out');
  writeFileSync(
    join(sandbox.hooksDir, `${product}.upgrade.sh`),
    `#!/bin/sh
mkdir '${out}/inside' 2>/dev/null || echo "overlap $1" >> '${out}/overlaps'
echo "$1" >> '${out}/order'
sleep 1
rmdir '${out}/inside'
`,
    { mode: 0o755 },
  );
}

const upgradeHaproxy = async (host: HostTarget, version: string): Promise<Journal> =>
  (await runCommand(host, { command: 'product.upgrade', product: 'haproxy', version })) as Journal;

const journalOf = async (host: HostTarget, operationId: string): Promise<Journal> =>
  (await runCommand(host, { command: 'operation.get', operationId })) as Journal;

function lockedPid(error: unknown): number {
  assert.ok(error instanceof BootstrapError, String(error));
  assert.equal(error.code, 'LOCKED', error.message);
  const pid = error.details['pid'];
  assert.ok(typeof pid === 'number' && pid > 1, `LOCKED names no PID: ${error.message}`);
  return pid;
}

for (const mode of ['flock', 'no-flock'] as const) {
  describe(`the lock (${mode})`, () => {
    it('fifty racing product.set: one holder at a time, the others LOCKED naming a PID', async () => {
      const { host } = setUp(mode);
      await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: 'start' } });
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: `v${i}` } }),
        ),
      );
      const wins = new Map<string, string>();
      for (const result of results) {
        if (result.status === 'rejected') continue;
        const answer = result.value as { config: Record<string, string>; state: Record<string, string> };
        wins.set(answer.config['maxconn'] ?? '', answer.state['last_operation'] ?? '');
      }
      assert.ok(wins.size >= 1);
      const final = (await runCommand(host, { command: 'product.get', product: 'haproxy' })) as {
        config: Record<string, string>;
        state: Record<string, string>;
      };
      const value = final.config['maxconn'] ?? '';
      assert.ok(wins.has(value), `final ${value} is none of the successful writes`);
      assert.equal(final.state['last_operation'], wins.get(value));
      for (const result of results) if (result.status === 'rejected') lockedPid(result.reason);
    });

    it('fifty racing upgrades: runs never overlap; LOCKED names the holder; the last run wins', async () => {
      const { sandbox, host } = setUp(mode);
      overlapDetectingHook(sandbox, 'haproxy');
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          runCommand(host, { command: 'product.upgrade', product: 'haproxy', version: `1.${i}` }),
        ),
      );
      const journals = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value as Journal] : []));
      assert.ok(journals.length >= 1);
      for (const journal of journals) assert.equal(journal.status, 'succeeded');
      assert.equal(readIfExists(join(sandbox.root, 'out', 'overlaps')), null, 'two upgrades overlapped');
      const order = (readIfExists(join(sandbox.root, 'out', 'order')) ?? '').trim().split('\n');
      assert.equal(order.length, journals.length);
      const got = (await runCommand(host, { command: 'product.get', product: 'haproxy' })) as {
        state: Record<string, string>;
      };
      assert.equal(got.state['version'], order.at(-1));
      assert.equal(got.state['status'], 'provisioned');
      // A holder may also be a runner that took the lock, found the state changed and went back to
      // re-plan (it keeps no journal), so LOCKED names some live runner, not always a successful one.
      for (const result of results) if (result.status === 'rejected') lockedPid(result.reason);
    });

    it('a holder killed with -9 leaves no lock that blocks; the next journal names it', async () => {
      const { sandbox, host } = setUp(mode);
      const held = await holdLock(sandbox, host);
      cleanups.push(() => killSession(held.journal.pid));
      process.kill(held.journal.pid, 'SIGKILL');
      await waitFor('the holder to die', () => !pidAlive(held.journal.pid));
      // Its hook still runs: hooks never hold the lock.
      assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'drain' }), { mode: 'drain' });
      const next = await upgradeHaproxy(host, '2.0');
      assert.equal(next.status, 'succeeded');
      // The quick write above took the stale lock over (it keeps no journal); this one found it free.
      assert.equal(next.staleLockRemoved, undefined);
      const killed = await journalOf(host, held.journal.id);
      assert.equal(killed.status, 'failed');
      assert.equal(killed.error?.code, 'HOOK_FAILED');
      assert.match(killed.error?.message ?? '', new RegExp(`pid ${held.journal.pid}`));
      killSession(held.journal.pid);
    });

    it('the first long operation after a -9 records staleLockRemoved with the old holder', async () => {
      const { sandbox, host } = setUp(mode);
      const held = await holdLock(sandbox, host);
      cleanups.push(() => killSession(held.journal.pid));
      process.kill(held.journal.pid, 'SIGKILL');
      await waitFor('the holder to die', () => !pidAlive(held.journal.pid));
      const next = (await runCommand(host, { command: 'server.provision', role: 'worker' })) as Journal;
      assert.equal(next.status, 'succeeded');
      assert.deepEqual(next.staleLockRemoved, {
        pid: held.journal.pid,
        operation: held.journal.id,
        command: 'product.upgrade',
        started_at: next.staleLockRemoved?.started_at,
        record: next.staleLockRemoved?.record,
      });
      assert.match(next.staleLockRemoved?.started_at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(
        next.staleLockRemoved?.record ?? '',
        new RegExp(`^${held.journal.pid}\noperation=${held.journal.id}\n`),
      );
      killSession(held.journal.pid);
    });

    it('a record naming a live process with another start time (PID 1, a sleep) does not block', async () => {
      const { sandbox, host } = setUp(mode);
      await runCommand(host, { command: 'server.mode', mode: 'drain' });
      const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
      cleanups.push(() => sleeper.kill('SIGKILL'));
      await waitFor('sleep to start', () => sleeper.pid !== undefined && pidAlive(sleeper.pid));
      for (const pid of [1, sleeper.pid ?? 0]) {
        const record = `${pid}\noperation=op_someone_else\ncommand=product.set\nstarted_at=2020-01-01T00:00:00Z\npid_start=${pidStart(pid)}9\n`;
        // The last runner writes its final journal, then releases: let it finish releasing first.
        await waitFor('the lock to be free', () => (readIfExists(lockPath(sandbox)) ?? '') === '');
        writeFileSync(lockPath(sandbox), record);
        const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
        assert.equal(beat.lock, null, 'a reused PID reported as the holder');
        const journal = await upgradeHaproxy(host, `${pid}.0`);
        assert.equal(journal.status, 'succeeded');
        assert.equal(journal.staleLockRemoved?.pid, pid);
        assert.equal(journal.staleLockRemoved?.operation, 'op_someone_else');
      }
      sleeper.kill('SIGKILL');
    });

    it("a bare-PID record (the seed tool's) naming a live unrelated process is stale", async () => {
      const { sandbox, host } = setUp(mode);
      await runCommand(host, { command: 'server.mode', mode: 'drain' });
      await waitFor('the lock to be free', () => (readIfExists(lockPath(sandbox)) ?? '') === '');
      // PID 1 is alive and never a bootstrap process: without a start time nothing proves it holds the lock.
      writeFileSync(lockPath(sandbox), '1\n');
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(beat.lock, null, 'a holder nobody is reported');
      const journal = await upgradeHaproxy(host, '1.0');
      assert.equal(journal.status, 'succeeded');
      assert.deepEqual(journal.staleLockRemoved, {
        pid: 1,
        operation: '',
        command: '',
        started_at: '',
        record: '1',
      });
      assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'active' }), {
        mode: 'active',
      });
    });

    for (const signal of ['SIGINT', 'SIGHUP'] as const) {
      it(`${signal} to the holder ends the operation: failed journal, failed product, lock released`, async () => {
        const { sandbox, host } = setUp(mode);
        const held = await holdLock(sandbox, host, { seconds: 60 });
        cleanups.push(() => killSession(held.journal.pid));
        process.kill(held.journal.pid, signal);
        await waitFor(`the holder to end on ${signal}`, () => !pidAlive(held.journal.pid), 20_000);
        const journal = await journalOf(host, held.journal.id);
        assert.equal(journal.status, 'failed');
        assert.match(journal.error?.message ?? '', new RegExp(signal));
        const got = (await runCommand(host, { command: 'product.get', product: 'deepfiler' })) as {
          state: Record<string, string>;
        };
        assert.equal(got.state['status'], 'failed');
        const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
        assert.equal(beat.lock, null);
        const next = await upgradeHaproxy(host, '2.0');
        assert.equal(next.status, 'succeeded');
        assert.equal(next.staleLockRemoved, undefined, `${signal} should release the lock cleanly`);
        killSession(held.journal.pid);
      });
    }

    it('a daemon started by a hook does not keep the lock', async () => {
      const { sandbox, host } = setUp(mode);
      sandbox.behave('haproxy', 'provision', { daemonSeconds: 60 });
      const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
      assert.equal(journal.status, 'succeeded');
      const daemon = Number(readFileSync(join(sandbox.root, 'out', 'haproxy.provision.daemon'), 'utf8'));
      cleanups.push(() => pidAlive(daemon) && process.kill(daemon, 'SIGKILL'));
      assert.ok(pidAlive(daemon));
      assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'drain' }), { mode: 'drain' });
      const upgrade = await upgradeHaproxy(host, '3');
      assert.equal(upgrade.status, 'succeeded');
      assert.equal(upgrade.staleLockRemoved, undefined);
      assert.ok(pidAlive(daemon), 'the daemon should still run');
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(beat.lock, null);
      process.kill(daemon, 'SIGKILL');
    });

    it('waitLockSeconds waits for a holder that finishes (and re-plans from what it left)', async () => {
      const { sandbox, host } = setUp(mode);
      const held = await holdLock(sandbox, host, { seconds: 1, version: '5.0' });
      const set = (await runCommand(
        host,
        { command: 'product.set', product: 'deepfiler', values: { threads: '12' } },
        { waitLockSeconds: 20 },
      )) as { config: Record<string, string>; state: Record<string, string> };
      assert.deepEqual({ ...set.config }, { threads: '12' });
      assert.equal(set.state['version'], '5.0');
      assert.equal(set.state['status'], 'provisioned');
      const journal = await journalOf(host, held.journal.id);
      assert.equal(journal.status, 'succeeded');
    });

    it('waitLockSeconds gives LOCKED when the holder does not finish in time', async () => {
      const { sandbox, host } = setUp(mode);
      const held = await holdLock(sandbox, host, { seconds: 30 });
      try {
        const error = await runCommand(
          host,
          { command: 'server.mode', mode: 'drain' },
          { waitLockSeconds: 1 },
        ).then(
          () => null,
          (e: unknown) => e,
        );
        assert.equal(lockedPid(error), held.journal.pid);
      } finally {
        await held.release();
      }
    });

    it('a symlink at the lock path is refused (CONFIG_ERROR) and not followed', async () => {
      const { sandbox, host } = setUp(mode);
      await runCommand(host, { command: 'server.mode', mode: 'drain' });
      const victim = join(sandbox.root, 'victim');
      writeFileSync(victim, 'keep\n');
      rmSync(lockPath(sandbox), { force: true });
      symlinkSync(victim, lockPath(sandbox));
      const error = await runCommand(host, { command: 'server.mode', mode: 'active' }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof BootstrapError && error.code === 'CONFIG_ERROR', String(error));
      assert.equal(readFileSync(victim, 'utf8'), 'keep\n');
      assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'drain' });
    });
  });
}

describe('the lock with flock, details', () => {
  it('a record naming a live process that holds no kernel lock names no holder and does not block', async () => {
    const { sandbox, host } = setUp('flock');
    await runCommand(host, { command: 'server.mode', mode: 'drain' });
    await waitFor('the lock to be free', () => (readIfExists(lockPath(sandbox)) ?? '') === '');
    const { sleeper } = await writeLiveRecord(sandbox);
    const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
    assert.equal(beat.lock, null, 'the kernel lock is free: the record names nobody');
    assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'active' }), { mode: 'active' });
    sleeper.kill('SIGKILL');
  });

  it('a flock(1) that fails for another reason than a holder is INTERNAL with its message, never LOCKED', async () => {
    const host = hostWithFailing('flock', 'flock: 9: Bad file descriptor', 65);
    const error = await errorOf(runCommand(host, { command: 'server.mode', mode: 'drain' }));
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'INTERNAL', error.message);
    assert.match(error.message, /Bad file descriptor/);
  });
});

describe('the lock without flock, details', () => {
  it('an ln(1) that cannot link at all is INTERNAL with its message, never a loop', async () => {
    const message = 'ln: failed to create hard link: Operation not permitted';
    const host = hostWithFailing('ln', message, 1, { BOOTSTRAP_NO_FLOCK: '1' });
    const error = await errorOf(
      runCommand(host, { command: 'server.mode', mode: 'drain' }, { timeoutMs: 20_000 }),
    );
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'INTERNAL', error.message);
    assert.match(error.message, /Operation not permitted/);
  });

  it('a record whose PID and start time match a live process blocks', async () => {
    const { sandbox, host } = setUp('no-flock');
    await runCommand(host, { command: 'server.mode', mode: 'drain' });
    const { sleeper, pid } = await writeLiveRecord(sandbox);
    const error = await runCommand(host, { command: 'server.mode', mode: 'active' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal(lockedPid(error), pid);
    assert.equal((error as BootstrapError).details['operation'], 'op_live');
    sleeper.kill('SIGKILL');
    await waitFor('sleep to end', () => !pidAlive(pid));
    assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'active' }), { mode: 'active' });
  });

  it('an empty bootstrap.pid (what a flock host leaves on release, or a power loss) does not block', async () => {
    const { sandbox, host } = setUp('no-flock');
    await runCommand(host, { command: 'server.mode', mode: 'drain' });
    writeFileSync(lockPath(sandbox), '');
    assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'active' }), { mode: 'active' });
    assert.equal(existsSync(lockPath(sandbox)) && readFileSync(lockPath(sandbox), 'utf8') !== '', false);
  });
});

describe("a journal's runner, like a lock's holder, is told by PID and start time", () => {
  it('a running journal whose PID now belongs to another process reads as failed', async () => {
    const { sandbox, host } = setUp('flock');
    const done = await upgradeHaproxy(host, '1.0');
    const path = join(sandbox.stateDir, 'operations', `${done.id}.json`);
    // As a runner killed with -9 leaves it, its PID since given to a live process (PID 1).
    const text = readFileSync(path, 'utf8')
      .replace(
        /"status":"succeeded","pid":\d+(,"pidStart":"\d*")?/,
        `"status":"running","pid":1,"pidStart":"${pidStart(1)}9"`,
      )
      .replace(/"finishedAt":"[^"]*"/, '"finishedAt":null');
    assert.match(text, /"status":"running","pid":1,/);
    writeFileSync(path, text);
    const journal = await journalOf(host, done.id);
    assert.equal(journal.status, 'failed');
    assert.match(journal.error?.message ?? '', /ended without finishing its journal/);
  });
});
