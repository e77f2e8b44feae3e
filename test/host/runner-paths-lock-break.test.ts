// Without flock(1), a stale lock is broken under `bootstrap.pid.break`, a directory that lets one
// taker at a time remove it (SPEC 2.3: never two holders). A `.break` left over (a breaker killed
// with -9, an older tool, a hand-made one, one whose time is in the future after a clock step)
// never stalls a taker past its wait (--wait-lock, 0 by default) nor hangs it: past its wait the
// answer is LOCKED saying that a stale lock is being broken. A `.break` whose breaker is gone is
// cleared at once; one whose breaker still runs is never taken from it; anything but a directory
// there is CONFIG_ERROR. Under each of the seven shells without flock, and with flock (where the
// kernel lock decides and a `.break` plays no part).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { pidAlive, pidStart, sevenShells, waitFor } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { useHostScratch } from './runner-setup.ts';

const scratch = useHostScratch();

const lockPath = (sandbox: Sandbox) => join(sandbox.stateDir, 'bootstrap.pid');
const breakPath = (sandbox: Sandbox) => `${lockPath(sandbox)}.break`;

/** A record naming this test's own PID with another start time: provably not its writer, so stale. */
const STALE = `${process.pid}\noperation=op_gone\ncommand=product.set\nstarted_at=2020-01-01T00:00:00Z\npid_start=${pidStart(process.pid)}9\n`;

/** A `sleep` that stays alive: a breaker that still runs. */
async function liveSleeper(): Promise<{ pid: number; start: string; child: ChildProcess }> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  scratch.onCleanup(() => child.kill('SIGKILL'));
  const pid = await waitFor(
    'sleep to start',
    () => child.pid !== undefined && pidAlive(child.pid) && child.pid,
  );
  return { pid, start: pidStart(pid), child };
}

/** Sets a path's times `seconds` from now (negative: in the past). */
function age(path: string, seconds: number): void {
  const when = Date.now() / 1000 + seconds;
  utimesSync(path, when, when);
}

async function timed<T>(
  run: () => Promise<T>,
): Promise<{ value: T | undefined; error: unknown; ms: number }> {
  const started = Date.now();
  try {
    const value = await run();
    return { value, error: undefined, ms: Date.now() - started };
  } catch (error) {
    return { value: undefined, error, ms: Date.now() - started };
  }
}

const setMaxconn = (host: HostTarget, value: string, waitLockSeconds = 0) =>
  timed(() =>
    runCommand(
      host,
      { command: 'product.set', product: 'haproxy', values: { maxconn: value } },
      { waitLockSeconds, timeoutMs: 60_000 },
    ),
  );

const maxconn = (sandbox: Sandbox) =>
  /^maxconn=(\S+)$/m.exec(readFileSync(join(sandbox.stateDir, 'products', 'haproxy.ini'), 'utf8'))?.[1];

function assertBreaking(sandbox: Sandbox, error: unknown): void {
  assert.ok(error instanceof BootstrapError, String(error));
  assert.equal(error.code, 'LOCKED', error.message);
  assert.equal(
    error.message,
    `sandbox: the stale lock ${lockPath(sandbox)} is being broken by another process (${breakPath(sandbox)} is there); try again`,
  );
  assert.equal(error.details['file'], lockPath(sandbox));
  assert.equal(error.details['pid'], null);
}

for (const [name, shell, shellEnv] of sevenShells(scratch.busybox)) {
  for (const mode of ['no-flock', 'flock'] as const) {
    describe(`${name} (${mode}): a stale lock with a bootstrap.pid.break left over`, () => {
      const env = { ...shellEnv, ...(mode === 'no-flock' ? { BOOTSTRAP_NO_FLOCK: '1' } : {}) };
      const flock = mode === 'flock' && name !== 'busybox sh';
      const setUp = async () => {
        const sandbox = scratch.sandbox();
        const host = sandbox.host(createLocalTransport({ shell, env }));
        await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
        writeFileSync(lockPath(sandbox), STALE);
        return { sandbox, host };
      };

      it('a fresh empty .break: LOCKED (a break in progress) at once with no wait; taken over within a wait', {
        timeout: 60_000,
      }, async () => {
        const { sandbox, host } = await setUp();
        mkdirSync(breakPath(sandbox));
        // Fresh means made less than 2 s ago by the wall clock. A loaded machine may take longer than
        // that to start the taker, so the .break is kept fresh until the first answer.
        const keepFresh = setInterval(() => {
          try {
            age(breakPath(sandbox), 0);
          } catch {
            // gone: nothing left to keep fresh
          }
        }, 100);
        const first = await setMaxconn(host, '2').finally(() => clearInterval(keepFresh));
        assert.ok(first.ms < 5000, `took ${first.ms} ms`);
        if (flock) assert.equal(first.error, undefined, String(first.error));
        else {
          assertBreaking(sandbox, first.error);
          assert.equal(maxconn(sandbox), '1');
          assert.equal(readFileSync(lockPath(sandbox), 'utf8'), STALE);
          const second = await setMaxconn(host, '3', 8);
          assert.equal(second.error, undefined, String(second.error));
          assert.ok(second.ms < 7000, `took ${second.ms} ms`);
        }
        assert.equal(maxconn(sandbox), flock ? '2' : '3');
      });

      it('a .break whose time is an hour ahead (a clock stepped back): no hang, taken over at once', {
        timeout: 60_000,
      }, async () => {
        const { sandbox, host } = await setUp();
        mkdirSync(breakPath(sandbox));
        age(breakPath(sandbox), 3600);
        const set = await setMaxconn(host, '4');
        assert.equal(set.error, undefined, String(set.error));
        assert.ok(set.ms < 5000, `took ${set.ms} ms`);
        assert.equal(maxconn(sandbox), '4');
        if (!flock) assert.equal(existsSync(breakPath(sandbox)), false);
        // A long operation takes it over too, and says whose lock it removed.
        writeFileSync(lockPath(sandbox), STALE);
        if (!existsSync(breakPath(sandbox))) mkdirSync(breakPath(sandbox));
        age(breakPath(sandbox), 3600);
        const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
        assert.equal(journal.status, 'succeeded', JSON.stringify(journal.error));
        assert.equal(journal.staleLockRemoved?.operation, 'op_gone');
      });

      it('a .break left by a breaker that died (its file names a dead process) is cleared at once', {
        timeout: 60_000,
      }, async () => {
        const { sandbox, host } = await setUp();
        mkdirSync(breakPath(sandbox));
        // This test's PID with another start time: not that process, so dead.
        writeFileSync(join(breakPath(sandbox), `${process.pid}.${pidStart(process.pid)}9`), '');
        age(breakPath(sandbox), -10);
        const set = await setMaxconn(host, '5');
        assert.equal(set.error, undefined, String(set.error));
        assert.ok(set.ms < 5000, `took ${set.ms} ms`);
        assert.equal(maxconn(sandbox), '5');
      });

      it('a .break whose breaker still runs is never taken from it, however old: LOCKED after the wait', {
        timeout: 60_000,
      }, async () => {
        const { sandbox, host } = await setUp();
        const breaker = await liveSleeper();
        mkdirSync(breakPath(sandbox));
        const own = join(breakPath(sandbox), `${breaker.pid}.${breaker.start}`);
        writeFileSync(own, '');
        age(breakPath(sandbox), -120);
        const set = await setMaxconn(host, '6', 1);
        if (flock) {
          assert.equal(set.error, undefined, String(set.error));
          return;
        }
        assertBreaking(sandbox, set.error);
        assert.ok(set.ms < 6000, `took ${set.ms} ms`);
        assert.ok(existsSync(own), "the live breaker's .break was taken from it");
        assert.equal(readFileSync(lockPath(sandbox), 'utf8'), STALE);
        assert.equal(maxconn(sandbox), '1');
        // Once it is gone, its .break goes too.
        breaker.child.kill('SIGKILL');
        await waitFor('the breaker to end', () => !pidAlive(breaker.pid));
        const after = await setMaxconn(host, '7');
        assert.equal(after.error, undefined, String(after.error));
        assert.equal(maxconn(sandbox), '7');
      });

      it('a .break that is no directory (a file, a symlink) is CONFIG_ERROR naming it, never followed', {
        timeout: 60_000,
      }, async () => {
        const { sandbox, host } = await setUp();
        const victim = join(sandbox.root, 'victim-dir');
        mkdirSync(victim);
        for (const kind of ['file', 'symlink'] as const) {
          if (kind === 'file') writeFileSync(breakPath(sandbox), 'x\n');
          else symlinkSync(victim, breakPath(sandbox));
          const set = await setMaxconn(host, '8', 1);
          if (flock) {
            assert.equal(set.error, undefined, String(set.error));
            writeFileSync(lockPath(sandbox), STALE);
          } else {
            const error = set.error;
            assert.ok(error instanceof BootstrapError, String(error));
            assert.equal(error.code, 'CONFIG_ERROR', error.message);
            assert.equal(error.details['file'], breakPath(sandbox));
            assert.equal(readFileSync(lockPath(sandbox), 'utf8'), STALE);
            assert.equal(maxconn(sandbox), '1');
          }
          assert.deepEqual(readdirSync(victim), []);
          rmSync(breakPath(sandbox), { force: true });
        }
      });
    });
  }

  describe(`${name} (no-flock): takers that each leave a stale lock behind never hold it together`, () => {
    it('six takers, eight takes each, every take breaking the last one', { timeout: 120_000 }, () => {
      const sandbox = scratch.sandbox();
      mkdirSync(sandbox.stateDir);
      const prelude = join(import.meta.dirname, '../../lib/host/prelude.sh');
      const inside = join(sandbox.root, 'out', 'inside');
      const overlaps = join(sandbox.root, 'out', 'overlaps');
      // Each take is its own process, which exits holding the lock (B_LOCKED=0: no release), as a
      // holder killed with -9 would: the next taker finds a stale lock and breaks it. (Breaking
      // without the .break, with a pause between the look at the record and its removal, makes
      // holders overlap here within a run.)
      const taker = `
for i in 1 2 3 4 5 6 7 8; do
  "$SH" -c '. "$1"; B_STATE=$2
    if b_take_lock op_race product.set 60 >/dev/null; then
      mkdir "$3" 2>/dev/null || echo overlap >> "$4"
      sleep 0.1
      rmdir "$3"
      B_LOCKED=0
    else echo "not taken" >> "$4"; fi' sh "$PRELUDE" "$STATE" "$INSIDE" "$OVERLAPS"
done`;
      const run = spawnSync('/bin/sh', ['-c', `for n in 1 2 3 4 5 6; do ( ${taker} ) & done; wait`], {
        encoding: 'utf8',
        env: {
          ...process.env,
          ...shellEnv,
          BOOTSTRAP_NO_FLOCK: '1',
          SH: shell,
          PRELUDE: prelude,
          STATE: sandbox.stateDir,
          INSIDE: inside,
          OVERLAPS: overlaps,
        },
        timeout: 110_000,
      });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(existsSync(overlaps) ? readFileSync(overlaps, 'utf8') : '', '');
      assert.equal(existsSync(`${join(sandbox.stateDir, 'bootstrap.pid')}.break`), false);
    });
  });
}
