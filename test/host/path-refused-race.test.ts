// The lock's path and its `.break` are made and removed all the time by racing takers (SPEC 2.3:
// "even when fifty starts race"). Refusing what is there (a directory at the lock, a file at the
// `.break`: CONFIG_ERROR) must rest on having seen that wrong kind, never on two tests that another
// taker's rm or rmdir between them makes look like "something else": that answered CONFIG_ERROR to
// a taker that had only lost a race. Here a busy process makes and removes the path while the
// prelude's check looks at it many thousand times, under each of the seven shells: never refused.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createBusyboxDir, sevenShells } from '../support/host-files.ts';

const busybox = createBusyboxDir();
const cleanups: Array<() => void> = [busybox.cleanup];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

const prelude = join(import.meta.dirname, '../../lib/host/prelude.sh');
/** Looks per shell and kind: with the two-test check, every shell here was refused 7 to 50 times. */
const LOOKS = 50_000;

const toggle = {
  // The lock: a regular file, linked and removed as takers do.
  file: 'while :; do : > "$1"; rm -f "$1"; done',
  // Its .break: a directory, made and removed as breakers do.
  dir: 'while :; do mkdir "$1" 2>/dev/null; rmdir "$1" 2>/dev/null; done',
} as const;

for (const [name, shell, shellEnv] of sevenShells(busybox)) {
  describe(`${name}: a lock path that racing takers make and remove`, () => {
    for (const kind of ['file', 'dir'] as const) {
      it(`is never refused as a ${kind === 'file' ? 'lock file' : '.break directory'} that is something else`, {
        timeout: 60_000,
      }, async () => {
        const root = mkdtempSync(join(tmpdir(), 'path-race-'));
        cleanups.push(() => rmSync(root, { recursive: true, force: true }));
        const path = join(root, kind === 'file' ? 'bootstrap.pid' : 'bootstrap.pid.break');
        const toggler = spawn('/bin/sh', ['-c', toggle[kind], 'sh', path], { stdio: 'ignore' });
        cleanups.push(() => toggler.kill('SIGKILL'));
        try {
          const looks = spawnSync(
            shell,
            [
              '-c',
              `. "$1"; n=0 i=0
while [ "$i" -lt ${LOOKS} ]; do
  i=$((i + 1))
  if b_path_refused "$2" $3 >>"$4"; then n=$((n + 1)); fi
done
echo "$n"`,
              'sh',
              prelude,
              path,
              kind === 'dir' ? 'dir' : '',
              join(root, 'refusals'),
            ],
            { encoding: 'utf8', env: { ...process.env, ...shellEnv }, timeout: 50_000 },
          );
          assert.equal(looks.status, 0, looks.stderr);
          const log = join(root, 'refusals');
          const refusals = existsSync(log) ? readFileSync(log, 'utf8') : '';
          assert.equal(
            looks.stdout.trim(),
            '0',
            `refused while another taker raced:\n${refusals.slice(0, 500)}`,
          );
        } finally {
          toggler.kill('SIGKILL');
        }
      });
    }
  });
}
