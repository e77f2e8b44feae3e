// A long operation in the cached form copies the host code into its runner from lib/ (SPEC 2.2),
// after the header checked that file and sourced it. When the file is deleted or replaced between
// that check and the copy, the copy fails its check against the code's name, and the program
// answers `@hostcode absent` before anything has changed or started; the self-contained form
// follows, runs the operation once (one journal, each hook once) and repairs lib/. The window is
// opened deterministically: a `mktemp` first on PATH changes lib/ when armed, and the first
// `mktemp` of the cached program is the one that makes the runner's private dir, after the check.
// Under the seven shells the tests use.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ABSENT_RECORD } from '../../lib/host/kept-code.ts';
import { shq } from '../../lib/host/quote.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { ExecResult, Transport } from '../../lib/transport/types.ts';
import { assertCacheSound, cacheFile } from '../support/host-code.ts';
import { sevenShells, snapshotTree } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { assertRanOnce, useHostScratch, warmCache } from './runner-setup.ts';

const uid = process.getuid?.() ?? 0;
const scratch = useHostScratch();
const busybox = scratch.busybox;

/** A long operation's program, and one that relies on the cached code (lib/host/host-code.ts). */
const isLong = (program: string) => program.includes('B_RUN_DIR=');
const isCached = (program: string) => !program.includes('B_HOSTCODE=');

type Change = 'deleted' | 'replaced';

/**
 * A directory with a `mktemp` that, while `armed` exists, first removes it and changes the cached
 * code (deleted; or replaced by the code with a line that leaves `mark` if it ever runs), then
 * is the real `mktemp`.
 */
function mktempThatChanges(sandbox: Sandbox, real: string, change: Change) {
  const dir = scratch.tempDir('cloudiq-mktemp-');
  const armed = join(dir, 'armed');
  const mark = join(sandbox.root, 'out', 'replaced-code-ran');
  const file = cacheFile(sandbox.stateDir);
  const act =
    change === 'deleted'
      ? `rm -f ${shq(file)}`
      : `{ cat ${shq(file)}; echo ${shq(`touch ${shq(mark)}`)}; } > ${shq(`${file}.new`)} && mv -f ${shq(`${file}.new`)} ${shq(file)}`;
  writeFileSync(
    join(dir, 'mktemp'),
    `#!/bin/sh\nif [ -e ${shq(armed)} ]; then rm -f ${shq(armed)}; ${act}; fi\nexec ${shq(real)} "$@"\n`,
    { mode: 0o755 },
  );
  return { dir, arm: () => writeFileSync(armed, ''), armed, mark };
}

/** The transport's exchanges, and the state dir (but lib/) as it was when a program answered `@hostcode absent`. */
function watching(inner: Transport, sandbox: Sandbox, before: (program: string) => void) {
  const exchanges: Array<{ program: string; result: ExecResult; state?: unknown }> = [];
  const transport: Transport = {
    kind: inner.kind,
    target: inner.target,
    async exec(request) {
      before(request.program);
      const result = await inner.exec(request);
      const absent = result.stdout === `${ABSENT_RECORD}\n`;
      exchanges.push({
        program: request.program,
        result,
        ...(absent && { state: stateBesidesLib(sandbox) }),
      });
      return result;
    },
    close: () => inner.close(),
  };
  return { transport, exchanges };
}

function stateBesidesLib(sandbox: Sandbox): unknown {
  const tree = snapshotTree(sandbox.stateDir) ?? {};
  return Object.fromEntries(
    Object.entries(tree).filter(([path]) => path !== 'lib' && !path.startsWith('lib/')),
  );
}

describe('the cached code changes between the check and the copy into the runner', () => {
  for (const [name, shell, env = {}] of sevenShells(busybox)) {
    const real =
      env['PATH'] === busybox.dir
        ? join(busybox.dir, 'mktemp')
        : execFileSync('sh', ['-c', 'command -v mktemp'], { encoding: 'utf8' }).trim();
    for (const change of ['deleted', 'replaced'] satisfies Change[]) {
      it(`${name}: lib/'s code ${change}: @hostcode absent before anything ran, then once whole, lib/ repaired`, async () => {
        const sandbox = scratch.sandbox();
        const wrapper = mktempThatChanges(sandbox, real, change);
        const tmp = join(sandbox.root, 'tmp');
        mkdirSync(tmp);
        const base = env['PATH'] ?? process.env['PATH'] ?? '/usr/bin:/bin';
        const local = createLocalTransport({
          shell,
          env: { ...env, PATH: `${wrapper.dir}:${base}`, TMPDIR: tmp },
        });
        // The cache installed and in use (the local transport's first write installs it).
        await warmCache(sandbox, sandbox.host(local), uid, 'deepfiler', { threads: '2' });

        let state: unknown;
        const { transport, exchanges } = watching(local, sandbox, (program) => {
          if (isLong(program) && isCached(program) && state === undefined) {
            state = stateBesidesLib(sandbox);
            wrapper.arm();
          }
        });
        sandbox.behave('deepfiler', 'upgrade', { output: 'deepfiler upgraded once' });
        const journal = (await runCommand(sandbox.host(transport), {
          command: 'product.upgrade',
          product: 'deepfiler',
          version: '4.1',
          operationId: 'op_01HZX3M5Q7R8S9T0V1W2X3Y4ZA',
        })) as { id: string; status: string; steps: unknown[] };

        assert.equal(
          existsSync(wrapper.armed),
          false,
          'the cached program made its runner dir: lib/ was changed then',
        );
        const longs = exchanges.filter((e) => isLong(e.program));
        assert.equal(longs.length, 2, 'the long operation went twice: from the cache, then whole');
        const [cached, whole] = longs;
        assert.ok(isCached(cached!.program) && !isCached(whole!.program));
        assert.deepEqual(
          { stdout: cached!.result.stdout, exitCode: cached!.result.exitCode },
          { stdout: `${ABSENT_RECORD}\n`, exitCode: 0 },
          'the cached program answered only that its code was absent',
        );
        assert.deepEqual(cached!.state, state, 'nothing in the state dir changed before that answer');
        assert.deepEqual(readdirSync(tmp), [], 'its private dir is gone too');

        assertRanOnce(sandbox, journal, 'deepfiler upgraded once');
        assert.equal(existsSync(wrapper.mark), false, 'code that does not match its name never ran');
        assertCacheSound(sandbox.stateDir, uid);
        const got = (await runCommand(sandbox.host(local), {
          command: 'product.get',
          product: 'deepfiler',
        })) as {
          state: Record<string, string>;
        };
        assert.equal(got.state['version'], '4.1');
      });
    }
  }
});
