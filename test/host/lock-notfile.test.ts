// Anything at the lock's path that is no regular file (a directory, a fifo, a socket) is refused
// with CONFIG_ERROR, as a symlink is (SPEC 2.3), and changes nothing (2.6): never INTERNAL, which
// is for a bug. Under each of the seven shells, with flock(1) and with the exclusive create
// (BOOTSTRAP_NO_FLOCK=1; busybox sh has no flock either way).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import type { CommandRequest } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createBusyboxDir, sevenShells } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { stateTree } from '../support/state-tree.ts';

const busybox = createBusyboxDir();
const sandboxes: Sandbox[] = [];
const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
  for (const sandbox of sandboxes) sandbox.cleanup();
  busybox.cleanup();
});

type Kind = 'directory' | 'fifo' | 'socket';
const KINDS: readonly Kind[] = ['directory', 'fifo', 'socket'];

const MUTATING: readonly CommandRequest[] = [
  { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } },
  { command: 'server.mode', mode: 'drain' },
  { command: 'server.provision', role: 'edge' },
  { command: 'product.upgrade', product: 'haproxy', version: '7' },
];

function fresh(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  return sandbox;
}

const lockPath = (sandbox: Sandbox) => join(sandbox.stateDir, 'bootstrap.pid');

/** Puts a KIND at PATH (a socket stays bound until the file's end). */
async function place(kind: Kind, path: string): Promise<void> {
  if (kind === 'directory') mkdirSync(path);
  else if (kind === 'fifo') execFileSync('mkfifo', [path]);
  else {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
  }
}

const stateOf = (sandbox: Sandbox) => stateTree(sandbox.stateDir);

async function refusedWithConfigError(sandbox: Sandbox, host: HostTarget, request: CommandRequest) {
  const before = stateOf(sandbox);
  const hooksRan = stateTree(join(sandbox.root, 'out'));
  const error = await runCommand(host, request).then(
    (answer) => assert.fail(`${request.command}: expected CONFIG_ERROR, got ${JSON.stringify(answer)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BootstrapError, String(error));
  assert.equal(error.code, 'CONFIG_ERROR', `${request.command}: ${error.message}`);
  assert.deepEqual(stateOf(sandbox), before, `${request.command} changed the state dir`);
  assert.deepEqual(stateTree(join(sandbox.root, 'out')), hooksRan, `${request.command} ran a hook`);
  return error;
}

for (const [name, shell, shellEnv] of sevenShells(busybox)) {
  for (const mode of ['flock', 'no-flock'] as const) {
    describe(`${name} (${mode}): no regular file at the lock path`, () => {
      const env = { ...shellEnv, ...(mode === 'no-flock' ? { BOOTSTRAP_NO_FLOCK: '1' } : {}) };
      const hostOf = (sandbox: Sandbox) => sandbox.host(createLocalTransport({ shell, env }));

      for (const kind of KINDS) {
        it(`a ${kind} is CONFIG_ERROR for every mutating command, and nothing changes`, async () => {
          const sandbox = fresh();
          const host = hostOf(sandbox);
          await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
          await runCommand(host, { command: 'server.mode', mode: 'active' });
          const lock = lockPath(sandbox);
          // An idle lock: emptied (flock) or gone (exclusive create); either way replaced here.
          rmSync(lock, { force: true });
          await place(kind, lock);
          for (const request of MUTATING) await refusedWithConfigError(sandbox, host, request);
          if (kind === 'directory') assert.deepEqual(readdirSync(lock), [], 'something was linked into it');
          // Reads still answer.
          assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'active' });
        });
      }

      it('a directory at the lock path of a state dir that holds nothing else: nothing created', async () => {
        const sandbox = fresh();
        mkdirSync(sandbox.stateDir, { mode: 0o750 });
        mkdirSync(lockPath(sandbox));
        const host = hostOf(sandbox);
        for (const request of MUTATING) await refusedWithConfigError(sandbox, host, request);
        assert.deepEqual(
          readdirSync(sandbox.stateDir).filter((entry) => entry !== 'lib'),
          ['bootstrap.pid'],
        );
      });
    });
  }
}

describe('the refusal names the lock file, as the symlink case does', () => {
  it('CONFIG_ERROR details.file is the lock path and the message says what is there', async () => {
    const sandbox = fresh();
    mkdirSync(sandbox.stateDir, { mode: 0o750 });
    mkdirSync(lockPath(sandbox));
    const error = await runCommand(sandbox.host(createLocalTransport()), {
      command: 'server.mode',
      mode: 'drain',
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError && error.code === 'CONFIG_ERROR', String(error));
    assert.equal(error.details['file'], lockPath(sandbox));
    assert.equal(
      error.message,
      `${lockPath(sandbox)} is a directory, not a regular file; refusing to use it`,
    );
  });
});
