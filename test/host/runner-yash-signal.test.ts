// A signal to a long operation's runner stops its hook before the lock is let go of (SPEC 2.3: the
// lock is held by the process that does the work, never two holders), under each of the seven
// shells. yash forked once more for a subshell with redirections attached, so the runner's signal
// stopped that shell and never the hook, which ran on without the lock; ksh93 and yash also give
// their own statuses for a process killed by a signal (256+N, 384+N), where the journal says 143.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { HeartbeatAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { killSession, pidAlive, readIfExists, sevenShells, waitFor } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { useHostScratch } from './runner-setup.ts';

const scratch = useHostScratch();

/**
 * A hook that records its PID, and on SIGTERM takes a second, records the lock file as it is then,
 * and dies of the signal (so that the runner's shell sees a process killed by SIGTERM).
 */
function slowToStopHook(sandbox: Sandbox): void {
  const out = join(sandbox.root, 'out');
  writeFileSync(
    join(sandbox.hooksDir, 'haproxy.upgrade.sh'),
    `#!/bin/sh
echo $$ > '${out}/hook.pid'
trap 'kill "$s" 2>/dev/null; sleep 1; cat "$BOOTSTRAP_STATE_DIR/bootstrap.pid" > '"'${out}/lock-at-exit'"' 2>/dev/null; echo "hook saw TERM"; trap - TERM; kill -TERM $$' TERM
echo "hook runs"
sleep 30 & s=$!
wait "$s"
`,
    { mode: 0o755 },
  );
}

for (const [name, shell, shellEnv] of sevenShells(scratch.busybox)) {
  describe(`${name}: SIGTERM to a runner mid-hook`, () => {
    it('stops the hook before the lock is released; the step says 143, as under every shell', async () => {
      const sandbox = scratch.sandbox();
      slowToStopHook(sandbox);
      const host = sandbox.host(createLocalTransport({ shell, env: { ...shellEnv } }));
      const started = (await runCommand(
        host,
        { command: 'product.upgrade', product: 'haproxy', version: '2.0' },
        { detach: true },
      )) as Journal;
      assert.equal(started.status, 'running');
      scratch.onCleanup(() => killSession(started.pid));
      const out = join(sandbox.root, 'out');
      const hookPid = await waitFor('the hook to run', () => {
        const text = readIfExists(join(out, 'hook.pid'));
        return text !== null && /^\d+\n$/.test(text) && Number(text);
      });
      const log = join(sandbox.stateDir, 'logs', `${started.id}.log`);
      await waitFor('the hook to wait', () => readIfExists(log)?.includes('hook runs'));

      process.kill(started.pid, 'SIGTERM');
      await waitFor('the runner to end', () => !pidAlive(started.pid), 20_000);
      assert.equal(pidAlive(hookPid), false, `the hook (pid ${hookPid}) outlived its runner`);
      // The hook ended while the runner still held the lock: its record was there, naming the runner.
      const seen = readIfExists(join(out, 'lock-at-exit'));
      assert.ok(seen !== null, 'the hook never got the signal');
      assert.equal(
        seen.split('\n')[0],
        String(started.pid),
        `the lock as the hook ended: ${JSON.stringify(seen)}`,
      );

      const journal = (await runCommand(host, {
        command: 'operation.get',
        operationId: started.id,
      })) as Journal;
      assert.equal(journal.status, 'failed');
      assert.equal(journal.error?.code, 'HOOK_FAILED');
      assert.match(journal.error?.message ?? '', /SIGTERM/);
      assert.equal(journal.steps.length, 1);
      assert.equal(journal.steps[0]?.exitCode, 143, JSON.stringify(journal.steps[0]));
      assert.match(journal.steps[0]?.output ?? '', /hook saw TERM/);
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.equal(beat.lock, null);
      assert.match(readFileSync(log, 'utf8'), /hook saw TERM/);
    });
  });
}
