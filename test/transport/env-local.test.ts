// The local transport gives the host program, and so every hook, an allow-listed environment:
// the login variables (PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_*, TZ, TMPDIR, TERM), the
// tool's own host-side BOOTSTRAP_* settings and what the caller adds, nothing else. A hook that
// prints its environment must never put the tool's secrets (a callback's, an SSH key's
// passphrase, AWS credentials) in the operation's log, its journal, operation.get or the API,
// whether the CLI, `serve` or the library ran it (SPEC 2.4, "never logged").
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const BIN = resolve('bin/cloudiq-bootstrap.js');

const SECRETS = {
  CALLBACK_SECRET: 'topsecret-cb',
  CLOUDIQ_SSH_PASSPHRASE: 'pp-secret',
  AWS_SECRET_ACCESS_KEY: 'awssecret',
} as const;
const SECRET_VALUES = Object.values(SECRETS);

const sandboxes: Sandbox[] = [];
after(() => {
  for (const sandbox of sandboxes) sandbox.cleanup();
});

/** A sandbox whose hooks print their whole environment (`env`) and succeed. */
function envPrintingSandbox(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  for (const product of ['haproxy', 'deepfiler'])
    for (const action of ['provision', 'upgrade'])
      writeFileSync(join(sandbox.hooksDir, `${product}.${action}.sh`), '#!/bin/sh\nenv\n', { mode: 0o755 });
  return sandbox;
}

/** Parent-environment variables set for one test, restored after it. */
function withParentEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

function assertNoSecret(where: string, text: string): void {
  for (const secret of SECRET_VALUES) assert.ok(!text.includes(secret), `${where} holds ${secret}`);
  for (const name of Object.keys(SECRETS)) assert.ok(!text.includes(`${name}=`), `${where} names ${name}`);
}

/** Every log and journal the state dir holds, as one text. */
function stateText(sandbox: Sandbox): string {
  const texts: string[] = [];
  for (const dir of ['logs', 'operations'])
    for (const name of readdirSync(join(sandbox.stateDir, dir)))
      texts.push(readFileSync(join(sandbox.stateDir, dir, name), 'utf8'));
  return texts.join('\n');
}

/** The `NAME=value` lines of a hook's printed environment. */
function envLines(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match) vars.set(match[1] ?? '', match[2] ?? '');
  }
  return vars;
}

/** SPEC 2.4's variables of an upgrade of haproxy to VERSION, as the hook printed them in the log. */
function assertUpgradeVariables(sandbox: Sandbox, journal: Journal, version: string): void {
  const log = readFileSync(join(sandbox.stateDir, 'logs', `${journal.id}.log`), 'utf8');
  const vars = envLines(log);
  assert.equal(vars.get('BOOTSTRAP_OPERATION_ID'), journal.id);
  assert.equal(vars.get('BOOTSTRAP_COMMAND'), 'product.upgrade');
  assert.equal(vars.get('BOOTSTRAP_PRODUCT'), 'haproxy');
  assert.equal(vars.get('BOOTSTRAP_STATE_DIR'), sandbox.stateDir);
  assert.equal(vars.get('BOOTSTRAP_PRODUCT_FILE'), join(sandbox.stateDir, 'products', 'haproxy.ini'));
  assert.equal(vars.get('BOOTSTRAP_VERSION'), version);
  assert.equal(vars.get('BOOTSTRAP_CFG_MAXCONN'), '512');
  assert.equal(vars.get('PATH'), process.env['PATH'], 'the login PATH reaches the hook');
}

describe('the local transport: an allow-listed environment for the host program', () => {
  let restore: () => void = () => {};
  beforeEach(() => {
    restore = withParentEnv({
      ...SECRETS,
      NODE_OPTIONS_SECRETISH: 'not-for-hosts',
      LANG: 'C.UTF-8',
      LC_TIME: 'C',
      TZ: 'UTC',
      TMPDIR: process.env['TMPDIR'] ?? '/tmp',
      BOOTSTRAP_FAULT_AT: 'nowhere-in-particular',
    });
  });
  afterEach(() => restore());

  it('a program sees the login variables, LC_*, BOOTSTRAP_* and the options, and nothing else', async () => {
    const transport = createLocalTransport({ env: { BOOTSTRAP_NO_FLOCK: '1', EXTRA_FOR_TEST: 'given' } });
    const { stdout, exitCode } = await transport.exec({ program: 'env\n' });
    await transport.close();
    assert.equal(exitCode, 0);
    assertNoSecret('the program environment', stdout);
    const vars = envLines(stdout);
    assert.equal(vars.has('NODE_OPTIONS_SECRETISH'), false);
    for (const name of ['PATH', 'HOME', 'LANG', 'LC_TIME', 'TZ', 'TMPDIR'])
      assert.equal(vars.get(name), process.env[name], `${name} reaches the host program`);
    assert.equal(vars.get('BOOTSTRAP_FAULT_AT'), 'nowhere-in-particular', 'the kill -9 tests’ fault point');
    assert.equal(vars.get('BOOTSTRAP_NO_FLOCK'), '1');
    assert.equal(vars.get('BOOTSTRAP_SH'), '/bin/sh');
    assert.equal(vars.get('EXTRA_FOR_TEST'), 'given');
    const allowed =
      /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|TZ|TMPDIR|TERM|LC_\w+|BOOTSTRAP_\w+|EXTRA_FOR_TEST)$/;
    // What a shell sets itself (PWD, OLDPWD, SHLVL, `_`) is the shell's, not ours.
    const ownOfShell = /^(PWD|OLDPWD|SHLVL|_)$/;
    for (const name of vars.keys())
      assert.ok(allowed.test(name) || ownOfShell.test(name), `${name} reached the host program`);
  });

  it('a fault point set in the parent environment still reaches the host program (kill -9 tests)', async () => {
    const sandbox = envPrintingSandbox();
    const host = sandbox.host(createLocalTransport());
    await runCommand(host, { command: 'server.mode', mode: 'drain' });
    process.env['BOOTSTRAP_FAULT_AT'] = 'write:temp';
    const error = await runCommand(host, { command: 'server.mode', mode: 'active' }).then(
      () => null,
      (e: unknown) => e,
    );
    process.env['BOOTSTRAP_FAULT_AT'] = 'nowhere-in-particular';
    assert.ok(error !== null, 'the write was killed at write:temp');
    assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'drain' });
  });

  it('a hook printing its environment: no secret in the log, the journal or operation.get; SPEC 2.4 variables reach it', async () => {
    const sandbox = envPrintingSandbox();
    const host = sandbox.host(createLocalTransport());
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '512' } });
    const provision = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
    assert.equal(provision.status, 'succeeded', JSON.stringify(provision.error));
    const upgrade = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '8.0',
    })) as Journal;
    assert.equal(upgrade.status, 'succeeded', JSON.stringify(upgrade.error));
    assertUpgradeVariables(sandbox, upgrade, '8.0');
    assertNoSecret('the journals and logs', stateText(sandbox));
    for (const journal of [provision, upgrade]) {
      assertNoSecret('the answer', JSON.stringify(journal));
      const got = await runCommand(host, { command: 'operation.get', operationId: journal.id });
      assertNoSecret('operation.get', JSON.stringify(got));
    }
    // The hook's environment as the journal keeps it: the stray parent variable is not there either.
    assert.ok(!stateText(sandbox).includes('NODE_OPTIONS_SECRETISH'));
  });
});

describe('the CLI and serve: the tool’s secrets never reach a hook', () => {
  const cliEnv = (sandbox: Sandbox): NodeJS.ProcessEnv => ({
    ...process.env,
    ...SECRETS,
    BOOTSTRAP_CONFIG: sandbox.configPath,
    BOOTSTRAP_STATE_DIR: sandbox.stateDir,
  });
  const cli = (sandbox: Sandbox, argv: string[]) => {
    const run = spawnSync(process.execPath, [BIN, ...argv, '--json'], {
      encoding: 'utf8',
      env: cliEnv(sandbox),
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    return run.stdout;
  };

  it('cloudiq-bootstrap product.upgrade and operation.get', () => {
    const sandbox = envPrintingSandbox();
    cli(sandbox, ['product.set', 'haproxy', 'maxconn=512']);
    const out = cli(sandbox, ['product.upgrade', 'haproxy', '8.0']);
    const journal = JSON.parse(out) as Journal;
    assert.equal(journal.status, 'succeeded', out);
    assertNoSecret('the CLI answer', out);
    assertNoSecret('operation.get', cli(sandbox, ['operation.get', journal.id]));
    assertNoSecret('the journals and logs', stateText(sandbox));
    assertUpgradeVariables(sandbox, journal, '8.0');
  });

  it('cloudiq-bootstrap serve: the upgrade route and the operation route', async (t) => {
    const sandbox = envPrintingSandbox();
    const inventory = join(sandbox.root, 'inventory.ini');
    writeFileSync(
      inventory,
      `[host:box]\ntransport = local\nconfig_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\n`,
    );
    const server: ChildProcess = spawn(
      process.execPath,
      [BIN, 'serve', '--inventory', inventory, '--port', '0'],
      { env: cliEnv(sandbox), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => {
      if (server.exitCode === null) server.kill('SIGTERM');
    });
    let banner = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      banner += chunk.toString('utf8');
    });
    const url = await waitFor('serve to listen', () => /API on (http:\/\/\S+)/.exec(banner)?.[1], 60_000);
    const json = { 'content-type': 'application/json' };
    const set = await fetch(`${url}/servers/box/products/haproxy/config`, {
      method: 'PATCH',
      headers: json,
      body: JSON.stringify({ maxconn: '512' }),
    });
    assert.equal(set.status, 200, await set.text());
    const started = await fetch(`${url}/servers/box/products/haproxy/upgrade`, {
      method: 'POST',
      headers: { ...json, 'idempotency-key': 'env-upgrade-1' },
      body: JSON.stringify({ version: '8.0' }),
    });
    assert.equal(started.status, 202, await started.clone().text());
    assertNoSecret('the 202', await started.text());
    let body = '';
    for (let i = 0; i < 600 && (body === '' || body.includes('"status":"running"')); i++) {
      if (i > 0) await new Promise((done) => setTimeout(done, 100));
      body = await (await fetch(`${url}/servers/box/operations/env-upgrade-1`)).text();
    }
    const journal = JSON.parse(body) as Journal;
    assert.equal(journal.status, 'succeeded', body);
    assertNoSecret('the operation route', body);
    assertNoSecret('the journals and logs', stateText(sandbox));
    assertUpgradeVariables(sandbox, journal, '8.0');
  });
});
