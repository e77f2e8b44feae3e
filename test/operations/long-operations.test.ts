// Long operations (SPEC 2.4, 2.5): what hooks see, what SIGTERM does, idempotent ids, detaching,
// and a caller killed mid-run while the operation finishes on its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BootstrapError } from '../../lib/errors.ts';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { holdLock } from '../support/held-lock.ts';
import { isFile, killSession, readIfExists, sessionMembers, waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { stateTree } from '../support/state-tree.ts';

const sandboxes: Sandbox[] = [];
const cleanups: Array<() => void> = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
  for (const sandbox of sandboxes) sandbox.cleanup();
});

function fresh(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  return sandbox;
}

/** Polls operation.get until the journal is final. */
async function finalJournal(host: HostTarget, operationId: string): Promise<Journal> {
  for (;;) {
    const journal = (await runCommand(host, { command: 'operation.get', operationId })) as Journal;
    if (journal.status !== 'running') return journal;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A hook that records its BOOTSTRAP_* environment, arguments, cwd, and which descriptors it got. */
function recordingHook(sandbox: Sandbox, product: string, action: 'provision' | 'upgrade'): string {
  const out = join(sandbox.root, 'out', `${product}.${action}.seen`);
  writeFileSync(
    join(sandbox.hooksDir, `${product}.${action}.sh`),
    `#!/bin/sh
{
  env | grep '^BOOTSTRAP_' | sort
  printf 'argc=%s\\n' "$#"
  for a in "$@"; do printf 'arg=%s\\n' "$a"; done
  printf 'cwd=%s\\n' "$(pwd)"
  if [ -e /proc/$$/fd/0 ]; then echo stdin=open; else echo stdin=closed; fi
  if [ -e /proc/$$/fd/9 ]; then echo fd9=open; else echo fd9=closed; fi
} > '${out}'
`,
    { mode: 0o755 },
  );
  return out;
}

const lines = (path: string) => (readIfExists(path) ?? '').trim().split('\n');

describe('hooks get exactly the environment of SPEC 2.4', () => {
  // Variables the caller's own environment happens to carry must not reach a hook as if they were its own.
  const stale = {
    BOOTSTRAP_VERSION: 'stale',
    BOOTSTRAP_CFG_THREADS: 'stale',
    BOOTSTRAP_PRODUCT_FILE: '/etc/passwd',
  };

  it('provision: ids, command, product, paths, BOOTSTRAP_CFG_*; cwd /, stdin closed, no lock fd', async () => {
    const sandbox = fresh();
    const host = sandbox.host(createLocalTransport({ env: stale }));
    const motd = `a=b; $(touch ${sandbox.root}/ran) 'q' "d" `;
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '100', motd } });
    await runCommand(host, { command: 'product.set', product: 'deepfiler', values: { 'log.level': 'warn' } });
    const seenHaproxy = recordingHook(sandbox, 'haproxy', 'provision');
    const seenDeep = recordingHook(sandbox, 'deepfiler', 'provision');
    const journal = (await runCommand(host, {
      command: 'server.provision',
      role: 'edge',
      operationId: 'deploy-env-1',
    })) as Journal;
    assert.equal(journal.status, 'succeeded');
    const common = (product: string) => [
      'BOOTSTRAP_COMMAND=server.provision',
      'BOOTSTRAP_OPERATION_ID=deploy-env-1',
      `BOOTSTRAP_PRODUCT=${product}`,
      `BOOTSTRAP_PRODUCT_FILE=${sandbox.stateDir}/products/${product}.ini`,
      `BOOTSTRAP_STATE_DIR=${sandbox.stateDir}`,
    ];
    const trailer = ['argc=0', 'cwd=/', 'stdin=closed', 'fd9=closed'];
    assert.deepEqual(lines(seenHaproxy), [
      'BOOTSTRAP_CFG_MAXCONN=100',
      `BOOTSTRAP_CFG_MOTD=${motd}`,
      ...common('haproxy'),
      ...trailer,
    ]);
    assert.deepEqual(lines(seenDeep), ['BOOTSTRAP_CFG_LOG_LEVEL=warn', ...common('deepfiler'), ...trailer]);
    assert.equal(isFile(join(sandbox.root, 'ran')), false);
  });

  it('upgrade: BOOTSTRAP_VERSION and $1', async () => {
    const sandbox = fresh();
    const host = sandbox.host(createLocalTransport({ env: stale }));
    await runCommand(host, { command: 'product.set', product: 'deepfiler', values: { threads: '3' } });
    const seen = recordingHook(sandbox, 'deepfiler', 'upgrade');
    const journal = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'deepfiler',
      version: '3.2.1-rc.1+b7',
    })) as Journal;
    assert.equal(journal.status, 'succeeded');
    assert.deepEqual(lines(seen), [
      'BOOTSTRAP_CFG_THREADS=3',
      'BOOTSTRAP_COMMAND=product.upgrade',
      `BOOTSTRAP_OPERATION_ID=${journal.id}`,
      'BOOTSTRAP_PRODUCT=deepfiler',
      `BOOTSTRAP_PRODUCT_FILE=${sandbox.stateDir}/products/deepfiler.ini`,
      `BOOTSTRAP_STATE_DIR=${sandbox.stateDir}`,
      'BOOTSTRAP_VERSION=3.2.1-rc.1+b7',
      'argc=1',
      'arg=3.2.1-rc.1+b7',
      'cwd=/',
      'stdin=closed',
      'fd9=closed',
    ]);
  });
});

describe('a product file whose [config] holds a key that is no key name', () => {
  it('is a CONFIG_ERROR naming the file and the key; no hook runs, nothing changes, no code in it runs', async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    await runCommand(host, { command: 'product.set', product: 'deepfiler', values: { threads: '3' } });
    const file = join(sandbox.stateDir, 'products', 'deepfiler.ini');
    const key = `x$(touch ${sandbox.root}/ran)`;
    const text = `[config]\nthreads = 3\n${key} = 1\n`;
    writeFileSync(file, text);
    const seen = recordingHook(sandbox, 'deepfiler', 'upgrade');
    const before = stateTree(sandbox.stateDir);
    for (const request of [
      { command: 'product.upgrade', product: 'deepfiler', version: '3.2.2' },
      { command: 'product.get', product: 'deepfiler' },
    ] as const) {
      await assert.rejects(runCommand(host, request), (error: BootstrapError) => {
        assert.equal(error.code, 'CONFIG_ERROR');
        assert.equal(error.details['file'], file);
        assert.equal(error.details['section'], 'config');
        assert.equal(error.details['key'], key);
        return true;
      });
    }
    assert.deepEqual(stateTree(sandbox.stateDir), before);
    assert.equal(readIfExists(seen), null, 'the hook never ran');
    assert.equal(isFile(join(sandbox.root, 'ran')), false);
    assert.equal(readFileSync(file, 'utf8'), text);
  });
});

describe('the runner', () => {
  it('SIGTERM: the hook is stopped and listed with what it printed, the journal says failed, the lock is released', async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    await runCommand(host, { command: 'product.upgrade', product: 'deepfiler', version: '1.0' });
    const held = await holdLock(sandbox, host, { version: '2.0' });
    cleanups.push(() => killSession(held.journal.pid));
    const journal = await held.release();
    assert.equal(journal.status, 'failed');
    assert.match(journal.error?.message ?? '', /SIGTERM/);
    assert.match(journal.finishedAt ?? '', /Z$/);
    // The interrupted hook is a step of its own, as one that ended is.
    assert.equal(journal.steps.length, 1, JSON.stringify(journal.steps));
    const [step] = journal.steps;
    assert.equal(step?.product, 'deepfiler');
    assert.equal(step?.action, 'upgrade');
    assert.notEqual(step?.exitCode, 0);
    assert.match(step?.output ?? '', /holder of deepfiler sleeps/);
    assert.match(step?.finishedAt ?? '', /Z$/);
    await waitFor('the hook to be stopped', () => sessionMembers(held.journal.pid).length === 0);
    assert.equal(readIfExists(join(sandbox.stateDir, 'bootstrap.pid')) ?? '', '');
    const got = (await runCommand(host, { command: 'product.get', product: 'deepfiler' })) as {
      state: Record<string, string>;
    };
    assert.equal(got.state['version'], '1.0');
    assert.equal(got.state['status'], 'failed');
    const next = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '1',
    })) as Journal;
    assert.equal(next.status, 'succeeded');
    assert.equal(next.staleLockRemoved, undefined, 'SIGTERM should release the lock cleanly');
  });

  it('an operation id already journaled returns that journal and runs nothing', async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    sandbox.behave('haproxy', 'provision', { output: 'haproxy provisioned once' });
    const first = (await runCommand(host, {
      command: 'server.provision',
      role: 'edge',
      operationId: 'deploy-42',
    })) as Journal;
    assert.equal(first.status, 'succeeded');
    const second = await runCommand(host, {
      command: 'server.provision',
      role: 'edge',
      operationId: 'deploy-42',
    });
    assert.deepEqual(second, first);
    // The same id for other arguments is another request: refused, and nothing runs.
    // So is one naming what bootstrap.ini does not have (it cannot be planned): never the journal.
    for (const request of [
      { command: 'server.provision', role: 'worker', operationId: 'deploy-42' },
      { command: 'server.provision', role: 'nosuchrole', operationId: 'deploy-42' },
      { command: 'product.upgrade', product: 'nosuch', version: '9.9', operationId: 'deploy-42' },
    ] as const) {
      await assert.rejects(
        runCommand(host, request),
        (error: BootstrapError) =>
          error.code === 'INVALID_REQUEST' && /already used by another request/.test(error.message),
        JSON.stringify(request),
      );
    }
    const upgraded = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'deepfiler',
      version: '1.0',
      operationId: 'upg-7',
    })) as Journal;
    assert.equal(upgraded.status, 'succeeded');
    await assert.rejects(
      runCommand(host, {
        command: 'product.upgrade',
        product: 'nosuch',
        version: '1.0',
        operationId: 'upg-7',
      }),
      (error: BootstrapError) => error.code === 'INVALID_REQUEST',
    );
    const log = readFileSync(join(sandbox.stateDir, 'logs', 'deploy-42.log'), 'utf8');
    assert.equal(log.split('haproxy provisioned once').length - 1, 1);
  });

  it('detach returns the running journal; the same id while it runs joins it; operation.get follows to the end', async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    sandbox.behave('haproxy', 'provision', { sleep: 1, output: 'slow haproxy' });
    const running = (await runCommand(
      host,
      { command: 'server.provision', role: 'edge', operationId: 'deploy-43' },
      { detach: true },
    )) as Journal;
    assert.equal(running.status, 'running');
    assert.equal(running.finishedAt, null);
    assert.equal(running.error, null);
    assert.deepEqual(running.steps, []);
    const again = (await runCommand(
      host,
      { command: 'server.provision', role: 'edge', operationId: 'deploy-43' },
      { detach: true },
    )) as Journal;
    assert.equal(again.id, 'deploy-43');
    assert.equal(again.pid, running.pid);
    const done = await finalJournal(host, 'deploy-43');
    assert.equal(done.status, 'succeeded');
    assert.equal(done.steps.length, 2);
    const log = readFileSync(join(sandbox.stateDir, 'logs', 'deploy-43.log'), 'utf8');
    assert.equal(log.split('slow haproxy').length - 1, 1);
  });

  it('the CLI killed with -9 mid-provision: hooks finish, state and journal end right, lock released', async () => {
    const sandbox = fresh();
    sandbox.behave('haproxy', 'provision', { sleep: 2 });
    const cli = spawn(
      process.execPath,
      [
        'bin/cloudiq-bootstrap.js',
        '--config',
        sandbox.configPath,
        '--state-dir',
        sandbox.stateDir,
        'server.provision',
        '--role',
        'edge',
        '--json',
      ],
      { cwd: join(import.meta.dirname, '..', '..'), detached: true, stdio: 'ignore' },
    );
    const group = cli.pid ?? 0;
    cleanups.push(() => {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // gone already
      }
    });
    await waitFor(
      'the first hook to start',
      () => isFile(sandbox.hookEnvFile('haproxy', 'provision')),
      20_000,
    );
    process.kill(-group, 'SIGKILL');
    await waitFor('the CLI to die', () => cli.exitCode !== null || cli.signalCode !== null);
    const [file] = readdirSync(join(sandbox.stateDir, 'operations')).filter((n) => n.endsWith('.json'));
    assert.ok(file);
    const host = sandbox.host();
    const journal = await finalJournal(host, file.replace(/\.json$/, ''));
    assert.equal(journal.status, 'succeeded', JSON.stringify(journal.error));
    assert.deepEqual(
      journal.steps.map((s) => [s.product, s.exitCode]),
      [
        ['haproxy', 0],
        ['deepfiler', 0],
      ],
    );
    assert.ok(isFile(join(sandbox.root, 'out', 'haproxy.provision.done')));
    assert.ok(isFile(join(sandbox.root, 'out', 'deepfiler.provision.done')));
    const beat = (await runCommand(host, { command: 'heartbeat.get' })) as {
      mode: string;
      role: string;
      products: Record<string, { status: string }>;
      lock: unknown;
    };
    assert.equal(beat.role, 'edge');
    assert.equal(beat.mode, 'active');
    assert.equal(beat.products['haproxy']?.status, 'provisioned');
    assert.equal(beat.products['deepfiler']?.status, 'provisioned');
    assert.equal(beat.lock, null);
    assert.equal(readIfExists(join(sandbox.stateDir, 'bootstrap.pid')) ?? '', '');
  });
});
