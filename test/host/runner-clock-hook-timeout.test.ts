// How long a hook ran decides whether its end is HOOK_TIMEOUT or HOOK_FAILED (SPEC 2.4), and that
// is measured on a monotonic clock, not the wall clock: a clock stepped back while a hook runs past
// hook_timeout is still HOOK_TIMEOUT, and a clock stepped forward while a hook exits 124 by itself
// is still HOOK_FAILED with exit code 124. The journal's times stay wall-clock times. Under each of
// the seven shells, with a `date` on PATH whose clock the hook steps (as ntpd or an operator would).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { sevenShells } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { useHostScratch } from './runner-setup.ts';

const scratch = useHostScratch();

const HOOK_TIMEOUT = 2;
const HOUR = 3600;

/** A sandbox whose `date` (first on PATH) runs OFFSET seconds off, OFFSET read from `clock-offset` at each call. */
function steppableClock(): { sandbox: Sandbox; binDir: string; setOffset: (seconds: number) => void } {
  const sandbox = scratch.sandbox({ hookTimeout: HOOK_TIMEOUT });
  const binDir = scratch.tempDir('cloudiq-clock-');
  const offsetFile = join(sandbox.root, 'clock-offset');
  writeFileSync(
    join(binDir, 'date'),
    `#!/bin/sh
off=0
{ read -r off < '${offsetFile}'; } 2>/dev/null
now=$(/usr/bin/date +%s)
exec /usr/bin/date -d "@$((now + off))" "$@"
`,
    { mode: 0o755 },
  );
  const setOffset = (seconds: number) => writeFileSync(offsetFile, `${seconds}\n`);
  setOffset(0);
  return { sandbox, binDir, setOffset };
}

/** The hook's behaviour (sourced by the sandbox hook, where $root is the sandbox): step the clock, then SHELL. */
function hookSteppingClock(sandbox: Sandbox, seconds: number, then: string): void {
  writeFileSync(
    join(sandbox.root, 'behaviour', 'haproxy.upgrade'),
    `printf '%s\\n' ${seconds} > "$root/clock-offset"\n${then}\n`,
  );
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

/** An upgrade of haproxy to `version` on `host`: its journal once it ends. */
const upgradeHaproxy = async (host: HostTarget, version: string) =>
  (await runCommand(host, { command: 'product.upgrade', product: 'haproxy', version })) as Journal;

for (const [name, shell, shellEnv] of sevenShells(scratch.busybox)) {
  describe(`${name}: a hook's time is measured on a monotonic clock`, () => {
    const setUp = () => {
      const clock = steppableClock();
      const path = `${clock.binDir}:${shellEnv?.['PATH'] ?? process.env['PATH']}`;
      const host = clock.sandbox.host(createLocalTransport({ shell, env: { ...shellEnv, PATH: path } }));
      return { ...clock, host };
    };

    it('the clock stepped back an hour while a hook runs past hook_timeout: HOOK_TIMEOUT', async () => {
      const { sandbox, host } = setUp();
      hookSteppingClock(sandbox, -HOUR, 'sleep_for=30');
      const journal = await upgradeHaproxy(host, '2');
      assert.equal(journal.status, 'failed');
      assert.equal(journal.error?.code, 'HOOK_TIMEOUT', journal.error?.message);
      assert.deepEqual(journal.error?.details, {
        product: 'haproxy',
        action: 'upgrade',
        timeoutSeconds: HOOK_TIMEOUT,
      });
      // The journal's times are the wall clock's, stepped back: the step ends before it started.
      const step = journal.steps[0];
      assert.ok(step);
      assert.ok(seconds(step.finishedAt) < seconds(step.startedAt) - HOUR / 2, JSON.stringify(step));
    });

    it('the clock stepped forward an hour while a hook exits 124 itself: HOOK_FAILED, exit code 124', async () => {
      const { sandbox, host } = setUp();
      hookSteppingClock(sandbox, HOUR, 'exit_code=124');
      const journal = await upgradeHaproxy(host, '2');
      assert.equal(journal.status, 'failed');
      assert.equal(journal.error?.code, 'HOOK_FAILED', journal.error?.message);
      assert.deepEqual(journal.error?.details, { product: 'haproxy', action: 'upgrade', exitCode: 124 });
      const step = journal.steps[0];
      assert.ok(step);
      assert.equal(step.exitCode, 124);
      assert.ok(seconds(step.finishedAt) >= seconds(step.startedAt) + HOUR / 2, JSON.stringify(step));
    });

    it('with the clock left alone, a hook past hook_timeout is HOOK_TIMEOUT and one exiting 124 is HOOK_FAILED', async () => {
      const { sandbox, host } = setUp();
      hookSteppingClock(sandbox, 0, 'sleep_for=30');
      const late = await upgradeHaproxy(host, '3');
      assert.equal(late.error?.code, 'HOOK_TIMEOUT', late.error?.message);
      hookSteppingClock(sandbox, 0, 'exit_code=124');
      const own = await upgradeHaproxy(host, '4');
      assert.equal(own.error?.code, 'HOOK_FAILED', own.error?.message);
    });
  });
}
