import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { shq } from '../../lib/host/quote.ts';
import { runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const BIN = resolve('bin/cloudiq-bootstrap.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process; under `script(1)` its stdout and stderr are a real pty. */
function spawnCli(argv: string[], opts: { pty: boolean; env?: NodeJS.ProcessEnv }): Promise<Run> {
  const line = [process.execPath, BIN, ...argv].map(shq).join(' ');
  const [file, args] = opts.pty
    ? ['script', ['-qefc', line, '/dev/null']]
    : [process.execPath, [BIN, ...argv]];
  const env = { ...process.env, ...opts.env };
  delete env['NO_COLOR'];
  Object.assign(env, opts.env);
  return new Promise((done, fail) => {
    const child = spawn(file as string, args as string[], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

const COLOUR = /\u001b\[(?:3\d|1|2)m/;
const ESCAPE = /\u001b/;

describe('fleet output for people (SPEC 6), on a terminal and piped', () => {
  let dir: string;
  let inventory: string;
  const sb: Record<string, Sandbox> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-people-'));
    for (const name of ['alpha', 'bravo', 'charlie']) sb[name] = createSandbox();
    inventory = join(dir, 'inventory.ini');
    const section = (name: string, configPath: string) =>
      `[host:${name}]\ntransport = local\ngroups = web\nconfig_path = ${configPath}\nstate_dir = ${sb[name]!.stateDir}\n`;
    writeFileSync(
      inventory,
      [
        section('alpha', sb['alpha']!.configPath),
        // bravo's bootstrap.ini does not exist: CONFIG_ERROR on that host only.
        section('bravo', join(dir, 'missing.ini')),
        section('charlie', sb['charlie']!.configPath),
        // Nothing listens on port 1: unreachable (or AUTH_FAILED before that without a key).
        `[host:delta]\ntransport = ssh\naddress = 127.0.0.1\nport = 1\nuser = nobody\nhost_key = SHA256:${'Q'.repeat(43)}\n`,
      ].join('\n'),
    );
    for (const [name, value] of [
      ['alpha', '4096'],
      ['charlie', 'two words '],
    ] as const) {
      const set = await runCli([
        '--config',
        sb[name]!.configPath,
        '--state-dir',
        sb[name]!.stateDir,
        'product.set',
        'haproxy',
        `maxconn=${value}`,
      ]);
      assert.equal(set.code, 0, set.stderr);
    }
  });
  after(() => {
    for (const s of Object.values(sb)) s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints each host’s value, failures first, a summary line, colour and a live progress line on a pty', async () => {
    const run = await spawnCli(
      ['--inventory', inventory, '--select', 'all', '--max-errors', '1', 'product.get', 'haproxy', 'maxconn'],
      { pty: true },
    );
    assert.equal(run.code, 4, run.stdout);
    assert.match(run.stdout, COLOUR);
    const text = run.stdout
      .replace(/\r\u001b\[2K/g, '\n')
      .replace(/\u001b\[[0-9;]*m/g, '')
      .replace(/\r/g, '');
    assert.match(text, /\d\/4 done, \d failed(, 1 unreachable)?, [0-9.]+ s elapsed/);
    assert.match(text, /4\/4 done, 1 failed, 1 unreachable, [0-9.]+ s elapsed/);
    const lines = text
      .split('\n')
      .filter((l) => /^(failed|succeeded|unreachable|skipped) \(|^ {2}\S/.test(l));
    assert.deepEqual(
      lines.map((l) => l.trim().split(/\s+/)[0]),
      ['failed', 'bravo', 'unreachable', 'delta', 'succeeded', 'alpha', 'charlie'],
      text,
    );
    assert.match(text, /bravo\s+CONFIG_ERROR: .*missing\.ini/);
    assert.match(text, /delta\s+(UNREACHABLE|AUTH_FAILED): \S/);
    assert.match(text, /alpha\s+4096\n/);
    assert.match(text, /charlie\s+"two words "\n/);
    assert.match(
      text,
      /product\.get product=haproxy key=maxconn: partial — 2 succeeded, 1 failed, 1 unreachable, 0 skipped of 4/,
    );
  });

  it('groups skipped targets after failed ones, and has no colour under NO_COLOR', async () => {
    const run = await spawnCli(
      ['--inventory', inventory, '--select', 'bravo,alpha,charlie', '--max-concurrency', '1', 'server.mode'],
      { pty: true, env: { NO_COLOR: '1' } },
    );
    assert.equal(run.code, 4);
    assert.doesNotMatch(run.stdout, COLOUR);
    const text = run.stdout.replace(/\r\u001b\[2K/g, '\n').replace(/\r/g, '');
    // Inventory order: alpha runs first and succeeds, bravo fails, charlie is skipped.
    assert.match(
      text,
      /failed \(1\)\n {2}bravo\s+CONFIG_ERROR[^\n]*\nskipped \(1\)\n {2}charlie\s+not started[^\n]*\nsucceeded \(1\)\n {2}alpha\s+maintenance\n/,
    );
  });

  it('piped: no colour, no progress, plain lines', async () => {
    const run = await spawnCli(['--inventory', inventory, '--select', 'alpha,charlie', 'server.mode'], {
      pty: false,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, ESCAPE);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^succeeded \(2\)\n {2}alpha\s+maintenance\n {2}charlie\s+maintenance\n/);
  });

  it('heartbeat.appstack: not healthy exits 7 (UNHEALTHY) on one host, and fails its target in a fleet (exit 4)', async () => {
    sb['charlie']!.setHealthy('haproxy', false);
    try {
      const one = await runCli([
        '--config',
        sb['charlie']!.configPath,
        '--state-dir',
        sb['charlie']!.stateDir,
        'heartbeat.appstack',
      ]);
      assert.equal(one.code, 7, one.stdout);
      assert.match(one.stdout, /^degraded\n/);
      const fleet = await runCli([
        '--inventory',
        inventory,
        '--select',
        'alpha,charlie',
        'heartbeat.appstack',
      ]);
      assert.equal(fleet.code, 4);
      assert.match(fleet.stdout, /failed \(1\)\n {2}charlie\s+UNHEALTHY: degraded: failing haproxy \S+/);
      assert.match(fleet.stdout, /succeeded \(1\)\n {2}alpha\s+healthy\n/);
      const json = await runCli([
        '--inventory',
        inventory,
        '--select',
        'charlie',
        'heartbeat.appstack',
        '--json',
      ]);
      const target = JSON.parse(json.stdout).targets[0];
      assert.equal(target.status, 'failed');
      assert.equal(target.error.code, 'UNHEALTHY');
      assert.equal(target.error.details.appstack.status, 'degraded');
    } finally {
      sb['charlie']!.setHealthy('haproxy', true);
    }
    const healthy = await runCli([
      '--inventory',
      inventory,
      '--select',
      'alpha,charlie',
      'heartbeat.appstack',
    ]);
    assert.equal(healthy.code, 0, healthy.stdout);
  });
});
