// Relative `--config` / `--state-dir` (and BOOTSTRAP_CONFIG / BOOTSTRAP_STATE_DIR): resolved
// against the caller's working directory on this machine; refused with INVALID_REQUEST for a
// remote target, where no one could say what they are relative to. The real CLI is spawned in a
// directory of its own, and nothing may be written anywhere else (`/` above all).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fleetArgv, runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const BIN = resolve('bin/cloudiq-bootstrap.js');
/** What a state dir resolved from `/` would leave there. */
const AT_ROOT = ['server.ini', 'products', 'operations', 'logs', 'bootstrap.pid', 'state', 'rel-state'];

function cli(cwd: string, argv: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [BIN, ...argv], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, BOOTSTRAP_CONFIG: '', BOOTSTRAP_STATE_DIR: '', ...env },
    timeout: 120_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('relative --config and --state-dir', () => {
  let sb: Sandbox;
  let cwd: string;
  const rootBefore = AT_ROOT.filter((name) => existsSync(join('/', name)));

  before(() => {
    sb = createSandbox();
    cwd = mkdtempSync(join(tmpdir(), 'cloudiq-cwd-'));
    // bootstrap.ini beside the caller, named relatively; hooks stay where the sandbox has them.
    cpSync(sb.configPath, join(cwd, 'bootstrap.ini'));
  });
  after(() => {
    sb.cleanup();
    rmSync(cwd, { recursive: true, force: true });
    const rootAfter = AT_ROOT.filter((name) => existsSync(join('/', name)));
    // What a failing run left under / is removed before the failure is reported.
    for (const name of rootAfter)
      if (!rootBefore.includes(name)) rmSync(join('/', name), { recursive: true, force: true });
    assert.deepEqual(rootAfter, rootBefore, 'something was written under /');
  });

  it('on this machine: resolved against the working directory, flags and environment alike', () => {
    const set = cli(cwd, [
      'product.set',
      'haproxy',
      'maxconn=7',
      '--config',
      'bootstrap.ini',
      '--state-dir',
      'rel-state',
      '--json',
    ]);
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.match(readFileSync(join(cwd, 'rel-state', 'products', 'haproxy.ini'), 'utf8'), /maxconn=7/);

    const upgrade = cli(cwd, ['product.upgrade', 'deepfiler', '2.0', '--json'], {
      BOOTSTRAP_CONFIG: './bootstrap.ini',
      BOOTSTRAP_STATE_DIR: 'rel-state',
    });
    assert.equal(upgrade.code, 0, upgrade.stdout + upgrade.stderr);
    assert.equal(JSON.parse(upgrade.stdout).status, 'succeeded');
    for (const made of ['products', 'operations', 'logs'])
      assert.ok(existsSync(join(cwd, 'rel-state', made)), made);
    // The hook (run with cwd /) is told the absolute state dir.
    const env = readFileSync(sb.hookEnvFile('deepfiler', 'upgrade'), 'utf8');
    assert.match(env, new RegExp(`^BOOTSTRAP_STATE_DIR=${join(cwd, 'rel-state')}$`, 'm'));
  });

  it('an empty --state-dir is refused; an empty BOOTSTRAP_STATE_DIR means unset', () => {
    const paths = ['--config', 'bootstrap.ini', '--state-dir', ''];
    const empty = cli(cwd, ['product.get', 'haproxy', ...paths, '--json']);
    assert.equal(empty.code, 2, empty.stdout + empty.stderr);
    assert.equal(JSON.parse(empty.stdout).error.code, 'INVALID_REQUEST');
  });

  it('remote targets refuse relative paths with INVALID_REQUEST before connecting', async () => {
    const targets = [
      ['--host', 'nobody@127.0.0.1:1'],
      ['--ssm', 'i-0123456789abcdef0', '--region', 'eu-west-1'],
    ];
    for (const target of targets) {
      for (const [paths, env] of [
        [['--state-dir', 'rel-state', '--config', '/etc/cloudiq/bootstrap.ini'], {}],
        [['--config', 'bootstrap.ini', '--state-dir', '/var/bootstrap'], {}],
        [[], { BOOTSTRAP_STATE_DIR: 'rel-state' }],
        [[], { BOOTSTRAP_CONFIG: 'etc/bootstrap.ini' }],
      ] as [string[], Record<string, string>][]) {
        const run = await runCli([...target, ...paths, 'heartbeat.get', '--json'], env);
        assert.equal(run.code, 2, `${target.join(' ')} ${paths.join(' ')}: ${run.stdout}${run.stderr}`);
        const error = JSON.parse(run.stdout).error;
        assert.equal(error.code, 'INVALID_REQUEST');
        assert.match(error.message, /absolute/);
      }
    }
  });

  it('fleet runs take paths from the inventory: relative ones are CONFIG_ERROR, the flags INVALID_REQUEST', () => {
    const inventory = join(cwd, 'inventory.ini');
    writeFileSync(inventory, '[host:a]\ntransport = local\nstate_dir = rel-state\nconfig_path = /x/b.ini\n');
    const relative = cli(cwd, fleetArgv(inventory, 'all', 'heartbeat.get'));
    assert.equal(relative.code, 6, relative.stdout + relative.stderr);
    assert.equal(JSON.parse(relative.stdout).error.code, 'CONFIG_ERROR');
    writeFileSync(
      inventory,
      `[host:a]\ntransport = local\nstate_dir = ${sb.stateDir}\nconfig_path = ${sb.configPath}\n`,
    );
    const flags = cli(cwd, fleetArgv(inventory, 'all', '--state-dir', 'rel-state', 'heartbeat.get'));
    assert.equal(flags.code, 2, flags.stdout + flags.stderr);
    assert.equal(JSON.parse(flags.stdout).error.code, 'INVALID_REQUEST');
  });
});
