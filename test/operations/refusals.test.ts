// Every error code each command can give (SPEC 2.6), and for each refusal: nothing changed — every
// path under the state dir (names, bytes, modes) and every hook's trace are the same after.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BootstrapError, type ErrorCode } from '../../lib/errors.ts';
import type { CommandRequest, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget, RunOptions } from '../../lib/operations/types.ts';
import { holdLock } from '../support/held-lock.ts';
import { snapshotTree } from '../support/host-files.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

/** Runs the request, expects it to throw CODE (with these details), and proves nothing changed. */
const omitLib = (tree: ReturnType<typeof snapshotTree>) =>
  tree &&
  Object.fromEntries(Object.entries(tree).filter(([path]) => path !== 'lib' && !path.startsWith('lib/')));

async function refuses(
  sandbox: Sandbox,
  host: HostTarget,
  request: CommandRequest,
  code: ErrorCode,
  details: Record<string, unknown> = {},
  options: RunOptions = {},
): Promise<BootstrapError> {
  // lib/ is the host code cache (SPEC 2.2), which any program may keep, reads too: not state.
  const stateTree = () => omitLib(snapshotTree(sandbox.stateDir));
  const state = stateTree();
  const out = snapshotTree(join(sandbox.root, 'out'));
  const error = await runCommand(host, request, options).then(
    (answer) => assert.fail(`expected ${code}, got ${JSON.stringify(answer)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof BootstrapError, String(error));
  assert.equal(error.code, code, error.message);
  for (const [key, value] of Object.entries(details)) assert.deepEqual(error.details[key], value, key);
  assert.deepEqual(stateTree(), state, `state changed after ${code}`);
  assert.deepEqual(snapshotTree(join(sandbox.root, 'out')), out, `a hook ran despite ${code}`);
  return error;
}

describe('refusals change nothing', () => {
  let sandbox: Sandbox;
  let host: HostTarget;
  before(async () => {
    sandbox = createSandbox();
    host = sandbox.host();
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
    await runCommand(host, { command: 'server.provision', role: 'edge' });
  });
  after(() => sandbox.cleanup());

  it('INVALID_REQUEST: malformed names, empty product.set, bad version, bad operation id', async () => {
    const malformed: CommandRequest[] = [
      { command: 'product.get', product: 'Bad Name' },
      { command: 'product.set', product: '../etc', values: { a: 'b' } },
      { command: 'product.set', product: 'haproxy', values: {} },
      { command: 'server.mode', mode: 'active; rm -rf /' },
      { command: 'server.provision', role: '$(id)' },
      { command: 'server.provision', role: 'edge', operationId: '../../x' },
      { command: 'product.upgrade', product: 'haproxy', version: '1 2' },
      { command: 'product.upgrade', product: 'haproxy', version: '-rf' },
      { command: 'product.upgrade', product: 'Haproxy', version: '1' },
      { command: 'operation.get', operationId: 'op_/../x' },
      { command: 'operation.get', operationId: 'op_nothing_here' },
    ];
    for (const request of malformed) await refuses(sandbox, host, request, 'INVALID_REQUEST');
  });

  it('UNKNOWN_PRODUCT and UNKNOWN_ROLE', async () => {
    const known = ['haproxy', 'deepfiler'];
    await refuses(sandbox, host, { command: 'product.get', product: 'nginx' }, 'UNKNOWN_PRODUCT', { known });
    const unknown: CommandRequest[] = [
      { command: 'product.get', product: 'nginx', key: 'x' },
      { command: 'product.set', product: 'nginx', values: { x: '1' } },
      { command: 'product.upgrade', product: 'nginx', version: '1' },
    ];
    for (const request of unknown) await refuses(sandbox, host, request, 'UNKNOWN_PRODUCT');
    await refuses(sandbox, host, { command: 'server.provision', role: 'db' }, 'UNKNOWN_ROLE', { role: 'db' });
  });

  it('UNKNOWN_ROLE when no role is named and none is recorded', async () => {
    const fresh = createSandbox();
    try {
      await refuses(fresh, fresh.host(), { command: 'server.provision' }, 'UNKNOWN_ROLE', { role: null });
    } finally {
      fresh.cleanup();
    }
  });

  it('INVALID_KEY, and product.set sets all pairs or none', async () => {
    await refuses(
      sandbox,
      host,
      { command: 'product.get', product: 'haproxy', key: 'threads' },
      'INVALID_KEY',
      { key: 'threads', allowed: ['maxconn', 'frontend_port', 'motd'] },
    );
    await refuses(
      sandbox,
      host,
      { command: 'product.set', product: 'haproxy', values: { maxconn: '2', threads: '4' } },
      'INVALID_KEY',
    );
  });

  it('INVALID_VALUE: NUL, CR, LF, control characters, over 4096 bytes', async () => {
    for (const bad of [
      'a\0b',
      'a\rb',
      'a\nb',
      'line\r\n',
      '\u0007bell',
      'x'.repeat(4097),
      'é'.repeat(2049),
    ]) {
      await refuses(
        sandbox,
        host,
        { command: 'product.set', product: 'haproxy', values: { maxconn: '2', motd: bad } },
        'INVALID_VALUE',
        { key: 'motd' },
      );
    }
    await runCommand(host, {
      command: 'product.set',
      product: 'haproxy',
      values: { motd: 'é'.repeat(2048) },
    });
  });

  it('INVALID_MODE', async () => {
    await refuses(sandbox, host, { command: 'server.mode', mode: 'standby' }, 'INVALID_MODE', {
      allowed: ['maintenance', 'active', 'drain'],
    });
  });

  it('INVALID_SCRIPT: a missing hook, a hook that is not executable, found before anything runs', async () => {
    const deepProvision = join(sandbox.hooksDir, 'deepfiler.provision.sh');
    const saved = readFileSync(deepProvision);
    rmSync(deepProvision);
    try {
      const error = await refuses(
        sandbox,
        host,
        { command: 'server.provision', role: 'edge' },
        'INVALID_SCRIPT',
        { product: 'deepfiler', action: 'provision', reason: 'missing' },
      );
      assert.match(error.message, /deepfiler\.provision\.sh/);
      writeFileSync(deepProvision, saved, { mode: 0o644 });
      chmodSync(deepProvision, 0o644);
      await refuses(sandbox, host, { command: 'server.provision', role: 'edge' }, 'INVALID_SCRIPT', {
        reason: 'notexecutable',
      });
      chmodSync(join(sandbox.hooksDir, 'haproxy.upgrade.sh'), 0o600);
      await refuses(
        sandbox,
        host,
        { command: 'product.upgrade', product: 'haproxy', version: '2' },
        'INVALID_SCRIPT',
        { product: 'haproxy', action: 'upgrade' },
      );
    } finally {
      writeFileSync(deepProvision, saved);
      chmodSync(deepProvision, 0o755);
      chmodSync(join(sandbox.hooksDir, 'haproxy.upgrade.sh'), 0o755);
    }
  });

  it('LOCKED for every mutating command, naming the holder', async () => {
    const held = await holdLock(sandbox, host);
    try {
      const holder = { pid: held.journal.pid, operation: held.journal.id, command: 'product.upgrade' };
      const mutations: CommandRequest[] = [
        { command: 'product.set', product: 'haproxy', values: { maxconn: '3' } },
        { command: 'server.mode', mode: 'drain' },
        { command: 'server.provision', role: 'edge' },
        { command: 'product.upgrade', product: 'haproxy', version: '3' },
      ];
      for (const request of mutations) {
        const error = await refuses(sandbox, host, request, 'LOCKED', holder);
        assert.match(error.message, new RegExp(`pid ${held.journal.pid}`));
      }
      const waited = await refuses(sandbox, host, mutations[0]!, 'LOCKED', holder, { waitLockSeconds: 1 });
      assert.match(waited.message, /product\.upgrade/);
    } finally {
      const journal = await held.release();
      assert.equal(journal.status, 'failed');
    }
  });

  it('HOOK_FAILED: the first failure stops the provision; later products and server.ini untouched', async () => {
    const fresh = createSandbox();
    try {
      const h = fresh.host();
      await runCommand(h, { command: 'product.set', product: 'deepfiler', values: { threads: '8' } });
      const deepBefore = readFileSync(join(fresh.stateDir, 'products', 'deepfiler.ini'));
      fresh.behave('haproxy', 'provision', { exit: 3, output: 'no haproxy for you' });
      const journal = (await runCommand(h, { command: 'server.provision', role: 'edge' })) as Journal;
      assert.equal(journal.status, 'failed');
      assert.deepEqual(journal.error?.code, 'HOOK_FAILED');
      assert.deepEqual(journal.error?.details, { product: 'haproxy', action: 'provision', exitCode: 3 });
      assert.deepEqual(
        journal.steps.map((s) => [s.product, s.exitCode, s.output]),
        [['haproxy', 3, 'no haproxy for you\n']],
      );
      assert.equal(existsSync(join(fresh.root, 'out', 'deepfiler.provision.env')), false);
      assert.deepEqual(readFileSync(join(fresh.stateDir, 'products', 'deepfiler.ini')), deepBefore);
      assert.equal(existsSync(join(fresh.stateDir, 'server.ini')), false);
      const got = (await runCommand(h, { command: 'product.get', product: 'haproxy' })) as {
        state: Record<string, string>;
      };
      assert.equal(got.state['status'], 'failed');

      await runCommand(h, { command: 'product.upgrade', product: 'deepfiler', version: '1.0' });
      fresh.behave('deepfiler', 'upgrade', { exit: 1 });
      const failed = (await runCommand(h, {
        command: 'product.upgrade',
        product: 'deepfiler',
        version: '2.0',
      })) as Journal;
      assert.equal(failed.error?.code, 'HOOK_FAILED');
      const deep = (await runCommand(h, { command: 'product.get', product: 'deepfiler' })) as {
        state: Record<string, string>;
      };
      assert.equal(deep.state['version'], '1.0');
      assert.equal(deep.state['status'], 'failed');
    } finally {
      fresh.cleanup();
    }
  });

  it('HOOK_TIMEOUT past hook_timeout', async () => {
    const fresh = createSandbox({ hookTimeout: 1 });
    try {
      fresh.behave('deepfiler', 'upgrade', { sleep: 4 });
      const journal = (await runCommand(fresh.host(), {
        command: 'product.upgrade',
        product: 'deepfiler',
        version: '2',
      })) as Journal;
      assert.equal(journal.status, 'failed');
      assert.equal(journal.error?.code, 'HOOK_TIMEOUT');
      assert.deepEqual(journal.error?.details, {
        product: 'deepfiler',
        action: 'upgrade',
        timeoutSeconds: 1,
      });
      // timeout(1) reports 124 when it had to stop the hook.
      assert.equal(journal.steps[0]?.exitCode, 124);
    } finally {
      fresh.cleanup();
    }
  });

  it('CONFIG_ERROR: bootstrap.ini missing, for every command that reads it', async () => {
    const missing = { ...host, configPath: join(sandbox.root, 'etc', 'nope.ini') };
    const requests: CommandRequest[] = [
      { command: 'product.get', product: 'haproxy' },
      { command: 'product.set', product: 'haproxy', values: { maxconn: '5' } },
      { command: 'server.mode' },
      { command: 'server.mode', mode: 'drain' },
      { command: 'server.provision', role: 'edge' },
      { command: 'product.upgrade', product: 'haproxy', version: '5' },
      { command: 'heartbeat.get' },
      { command: 'heartbeat.appstack' },
    ];
    for (const request of requests) {
      await refuses(sandbox, missing, request, 'CONFIG_ERROR', { file: missing.configPath });
    }
  });

  it('CONFIG_ERROR: a malformed bootstrap.ini names the file, section and key', async () => {
    const good = bootstrapIni(sandbox.root);
    const cases: Array<[string, string, string]> = [
      [good.replace(/^modes = .*$/m, ''), 'server', 'modes'],
      [good.replace('products = haproxy, deepfiler', 'products = haproxy, varnish'), 'role:edge', 'products'],
      [good.replace(/^check = exec:.*haproxy.*$/m, 'check = tcp:nowhere'), 'product:haproxy', 'check'],
    ];
    try {
      for (const [text, section, key] of cases) {
        sandbox.writeConfig(text);
        for (const request of [
          { command: 'product.set', product: 'haproxy', values: { maxconn: '6' } },
          { command: 'server.provision', role: 'edge' },
          { command: 'heartbeat.get' },
        ] satisfies CommandRequest[]) {
          await refuses(sandbox, host, request, 'CONFIG_ERROR', { file: sandbox.configPath, section, key });
        }
      }
    } finally {
      sandbox.writeConfig(good);
    }
  });

  it('CONFIG_ERROR: a symlink at the lock path is refused and never followed', async () => {
    const lock = join(sandbox.stateDir, 'bootstrap.pid');
    const target = join(sandbox.root, 'victim');
    writeFileSync(target, 'precious\n', { mode: 0o600 });
    const absentTarget = join(sandbox.root, 'not-there');
    try {
      for (const to of [target, absentTarget]) {
        rmSync(lock, { force: true });
        symlinkSync(to, lock);
        for (const request of [
          { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } },
          { command: 'server.mode', mode: 'drain' },
          { command: 'server.provision', role: 'edge' },
          { command: 'product.upgrade', product: 'haproxy', version: '7' },
        ] satisfies CommandRequest[]) {
          await refuses(sandbox, host, request, 'CONFIG_ERROR', { file: lock });
        }
        assert.equal(readFileSync(target, 'utf8'), 'precious\n');
        assert.equal(existsSync(absentTarget), false);
      }
    } finally {
      rmSync(lock, { force: true });
    }
    await runCommand(host, { command: 'server.mode', mode: 'drain' });
  });

  it('CONFIG_ERROR: a symlink at the lock path of a state dir that holds nothing else', async () => {
    const fresh = createSandbox();
    try {
      mkdirSync(fresh.stateDir, { mode: 0o750 });
      symlinkSync(join(fresh.root, 'victim'), join(fresh.stateDir, 'bootstrap.pid'));
      await refuses(fresh, fresh.host(), { command: 'server.mode', mode: 'drain' }, 'CONFIG_ERROR');
      await refuses(fresh, fresh.host(), { command: 'server.provision', role: 'edge' }, 'CONFIG_ERROR');
      assert.equal(existsSync(join(fresh.root, 'victim')), false);
    } finally {
      fresh.cleanup();
    }
  });
});
