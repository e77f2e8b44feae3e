// A long operation's journal (operations/<id>.json) and log (logs/<id>.log) are files the runner
// writes and opens: anything at their paths but a regular file (a directory, a fifo) or a symlink
// is refused with CONFIG_ERROR naming the path and what is there, before any hook runs or anything
// changes (SPEC 2.6), never INTERNAL halfway through, never a runner that hangs holding the lock,
// never a hook's output appended through a link. Under each of the seven shells, with flock(1) and
// with the exclusive create (BOOTSTRAP_NO_FLOCK=1). The atomic write never moves its temp file into
// a directory at its target's path either (mv(1) would: busybox mv has no -T).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import type { CommandRequest, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { sevenShells } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { stateTree } from '../support/state-tree.ts';
import { useHostScratch } from './runner-setup.ts';

const scratch = useHostScratch();

type Kind = 'directory' | 'fifo' | 'symlink' | 'dangling symlink';
const KINDS: readonly Kind[] = ['directory', 'fifo', 'symlink', 'dangling symlink'];
type Where = 'journal' | 'log';

const pathOf = (sandbox: Sandbox, where: Where, id: string) =>
  where === 'journal'
    ? join(sandbox.stateDir, 'operations', `${id}.json`)
    : join(sandbox.stateDir, 'logs', `${id}.log`);

/** Puts a KIND at PATH; a symlink points at a file outside the state dir, whose bytes must stay. */
function place(sandbox: Sandbox, kind: Kind, path: string): void {
  if (kind === 'directory') mkdirSync(path);
  else if (kind === 'fifo') execFileSync('mkfifo', [path]);
  else if (kind === 'symlink') {
    const victim = join(sandbox.root, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, path);
  } else symlinkSync(join(sandbox.root, 'not-there'), path);
}

const MESSAGE: Record<Kind, (path: string) => string> = {
  directory: (path) => `${path} is a directory, not a regular file; refusing to use it`,
  fifo: (path) => `${path} is a fifo, not a regular file; refusing to use it`,
  symlink: (path) => `${path} is a symlink; refusing to follow it`,
  'dangling symlink': (path) => `${path} is a symlink; refusing to follow it`,
};

async function refused(
  sandbox: Sandbox,
  host: HostTarget,
  request: CommandRequest,
  path: string,
  kind: Kind,
) {
  const state = stateTree(sandbox.stateDir);
  const out = stateTree(join(sandbox.root, 'out'));
  const error = await runCommand(host, request).then(
    (answer) => assert.fail(`expected CONFIG_ERROR, got ${JSON.stringify(answer)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BootstrapError, String(error));
  assert.equal(error.code, 'CONFIG_ERROR', error.message);
  assert.equal(error.details['file'], path);
  assert.equal(error.message, MESSAGE[kind](path));
  assert.deepEqual(stateTree(sandbox.stateDir), state, 'the state dir changed');
  assert.deepEqual(stateTree(join(sandbox.root, 'out')), out, 'a hook ran');
  if (kind === 'directory') assert.deepEqual(readdirSync(path), [], 'something was moved into it');
  if (kind === 'symlink') assert.equal(readFileSync(join(sandbox.root, 'victim'), 'utf8'), 'precious\n');
  if (kind === 'dangling symlink') assert.equal(existsSync(join(sandbox.root, 'not-there')), false);
}

for (const [name, shell, shellEnv] of sevenShells(scratch.busybox)) {
  for (const mode of ['flock', 'no-flock'] as const) {
    describe(`${name} (${mode}): the journal's and the log's paths`, () => {
      const env = { ...shellEnv, ...(mode === 'no-flock' ? { BOOTSTRAP_NO_FLOCK: '1' } : {}) };

      for (const where of ['journal', 'log'] as const) {
        it(`anything but a regular file at the ${where}'s path is CONFIG_ERROR, and nothing changes`, {
          timeout: 60_000,
        }, async () => {
          const sandbox = scratch.sandbox();
          const host = sandbox.host(createLocalTransport({ shell, env }));
          await runCommand(host, { command: 'server.provision', role: 'edge' });
          const lastBefore = readFileSync(join(sandbox.stateDir, 'operations', '.last'), 'utf8');
          for (const kind of KINDS) {
            for (const request of [
              { command: 'server.provision', role: 'edge' },
              { command: 'product.upgrade', product: 'haproxy', version: '9' },
            ] as const) {
              const id = `op_${where}_${kind.replace(' ', '_')}_${request.command.replace('.', '_')}`;
              const path = pathOf(sandbox, where, id);
              place(sandbox, kind, path);
              await refused(sandbox, host, { ...request, operationId: id }, path, kind);
              rmSync(path, { recursive: true, force: true });
              rmSync(join(sandbox.root, 'victim'), { force: true });
            }
          }
          assert.equal(readFileSync(join(sandbox.stateDir, 'operations', '.last'), 'utf8'), lastBefore);
          // The lock was let go of: the next operation runs.
          const next = (await runCommand(host, {
            command: 'product.upgrade',
            product: 'haproxy',
            version: '10',
          })) as Journal;
          assert.equal(next.status, 'succeeded');
        });
      }
    });
  }
}

describe('the atomic write never moves its temp file into a directory at its path', () => {
  const prelude = join(import.meta.dirname, '../../lib/host/prelude.sh');
  for (const [name, shell, shellEnv] of sevenShells(scratch.busybox)) {
    it(name, () => {
      const dir = scratch.tempDir('cloudiq-commit-');
      mkdirSync(join(dir, 'target'));
      const linked = join(dir, 'linked');
      mkdirSync(join(dir, 'elsewhere'));
      symlinkSync(join(dir, 'elsewhere'), linked);
      const run = spawnSync(
        shell,
        [
          '-c',
          '. "$1"; printf x | b_write_stdin "$2"; echo "rc=$?"; printf y | b_write_stdin "$3"; echo "rc=$?"',
          'sh',
          prelude,
          join(dir, 'target'),
          linked,
        ],
        { encoding: 'utf8', env: { ...process.env, ...shellEnv } },
      );
      assert.equal(run.stdout, 'rc=1\nrc=1\n', run.stderr);
      assert.deepEqual(readdirSync(join(dir, 'target')), []);
      assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);
      assert.deepEqual(readdirSync(dir).sort(), ['elsewhere', 'linked', 'target']);
    });
  }
});
