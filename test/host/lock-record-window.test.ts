// SPEC 2.3: while the lock is held, its file's first line is the holder's PID, and reads report the
// holder. With flock(1) the kernel lock decides, and the record is written once it is taken: the
// record is made first (its `date`, its /proc reads) and written with one write, so a write that
// holds the lock is never seen without its record; and a read that finds the file empty while its
// flock is held reports the lock as held, not free (the moment of that one write, or another
// tool's flock). Reads find that out with builtins only, under each of the seven shells.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { HeartbeatAnswer } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createBusyboxDir, pidAlive, pidStart, sevenShells, waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const busybox = createBusyboxDir();
const sandboxes: Sandbox[] = [];
const cleanups: Array<() => void> = [busybox.cleanup];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
  for (const sandbox of sandboxes) sandbox.cleanup();
});

function fresh(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  return sandbox;
}

const lockPath = (sandbox: Sandbox) => join(sandbox.stateDir, 'bootstrap.pid');

/** Does /proc/locks list a holder's flock on the file with this inode (a waiter's line has `->`)? */
function flockHeld(inode: number): boolean {
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === 'FLOCK' && (fields[5] ?? '').endsWith(`:${inode}`);
    });
}

/** Another process holding the file's flock: one process (a `sleep` once it holds it), ended by one kill. */
async function holdFlock(path: string): Promise<ChildProcess> {
  const holder = spawn('/bin/sh', ['-c', 'exec 9<>"$1" && flock 9 && exec sleep 30', 'holder', path], {
    stdio: 'ignore',
  });
  cleanups.push(() => holder.kill('SIGKILL'));
  await waitFor('flock(1) to hold the file', () => flockHeld(statSync(path).ino));
  return holder;
}

/** A directory whose `date` and `sync` take a second each before doing their work. */
function slowTools(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-slow-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const tool of ['date', 'sync'])
    writeFileSync(join(dir, tool), `#!/bin/sh\nsleep 1\nexec /usr/bin/${tool} "$@"\n`, { mode: 0o755 });
  return dir;
}

describe('a write holding the flock is seen with its record (a slow `date` and `sync` on its PATH)', () => {
  it('heartbeat.get, while server.mode holds the lock, reports the writer as the holder', async () => {
    const sandbox = fresh();
    const host = sandbox.host(createLocalTransport({ shell: '/usr/bin/dash' }));
    await runCommand(host, { command: 'server.mode', mode: 'active' });
    const inode = statSync(lockPath(sandbox)).ino;
    const slowPath = `${slowTools()}:${process.env['PATH']}`;
    const slow = sandbox.host(createLocalTransport({ shell: '/usr/bin/dash', env: { PATH: slowPath } }));
    const writing = runCommand(slow, { command: 'server.mode', mode: 'drain' });
    const outcome = writing.then(
      () => 'done',
      (e: unknown) => e,
    );
    let settled = false;
    void outcome.then(() => {
      settled = true;
    });
    await waitFor('the writer to hold the flock', () => settled || flockHeld(inode), 30_000);
    assert.equal(settled, false, 'the write ended before its lock was ever seen held');
    const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
    const stillHeld = flockHeld(inode);
    assert.equal(stillHeld, true, 'the writer let go before the read ended: the read proves nothing');
    assert.notEqual(beat.lock, null, 'the lock was reported free while the write held it');
    assert.equal(beat.lock?.command, 'server.mode', JSON.stringify(beat.lock));
    assert.equal(typeof beat.lock?.pid, 'number');
    assert.equal(await outcome, 'done');
  });
});

for (const [name, shell, shellEnv] of sevenShells(busybox)) {
  describe(`${name}: a read of the lock while another process holds its flock`, () => {
    const hasFlock = name !== 'busybox sh';
    const setUp = async () => {
      const sandbox = fresh();
      const host = sandbox.host(createLocalTransport({ shell, env: { ...shellEnv } }));
      // A first write makes the state dir and leaves the lock file as a released lock leaves it.
      await runCommand(host, { command: 'server.mode', mode: 'active' });
      return { sandbox, host };
    };

    it(`an empty record whose flock is held: ${hasFlock ? 'reported held' : 'free (no flock on this host)'}`, async () => {
      const { sandbox, host } = await setUp();
      writeFileSync(lockPath(sandbox), '');
      const holder = await holdFlock(lockPath(sandbox));
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      if (hasFlock)
        assert.deepEqual(beat.lock, { pid: null, operation: null, command: null, started_at: null });
      else assert.equal(beat.lock, null);
      holder.kill('SIGKILL');
      await waitFor('the flock to go', () => !flockHeld(statSync(lockPath(sandbox)).ino));
      const free = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(free.lock, null);
    });

    it('a record naming the live process that holds the flock: reported with its holder', async () => {
      const { sandbox, host } = await setUp();
      writeFileSync(lockPath(sandbox), '');
      const holder = await holdFlock(lockPath(sandbox));
      const pid = holder.pid ?? 0;
      assert.ok(pidAlive(pid));
      writeFileSync(
        lockPath(sandbox),
        `${pid}\noperation=op_other\ncommand=product.set\nstarted_at=2020-01-01T00:00:00Z\npid_start=${pidStart(pid)}\n`,
      );
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.deepEqual(beat.lock, {
        pid,
        operation: 'op_other',
        command: 'product.set',
        started_at: '2020-01-01T00:00:00Z',
      });
      holder.kill('SIGKILL');
      await waitFor('the holder to go', () => !pidAlive(pid));
      const free = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(free.lock, null);
    });
  });
}
