import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { verifySignature } from '../../lib/callback/index.ts';
import { COMMANDS } from '../../lib/cli/args.ts';
import { startCallbackReceiver } from '../support/callback-receiver.ts';
import { runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const cli = runCli;

function on(sb: Sandbox, ...argv: string[]): string[] {
  return ['--config', sb.configPath, '--state-dir', sb.stateDir, ...argv];
}

describe('the CLI on this machine', () => {
  let sb: Sandbox;
  before(() => {
    sb = createSandbox();
  });
  after(() => sb.cleanup());

  it('answers --help for every command, and the main help without one', async () => {
    for (const command of [...COMMANDS, 'serve', 'demo']) {
      const run = await cli([command, '--help']);
      assert.equal(run.code, 0, command);
      assert.match(run.stdout, new RegExp(`cloudiq-bootstrap ${command.replace('.', '\\.')}`));
    }
    const bare = await cli(['--help']);
    assert.equal(bare.code, 0);
    for (const command of COMMANDS) assert.ok(bare.stdout.includes(command), command);
    assert.equal((await cli([])).code, 0);
    assert.equal((await cli(['--json'])).code, 2);
  });

  it('refuses unknown commands, options and malformed arguments with INVALID_REQUEST (exit 2)', async () => {
    for (const argv of [
      ['product.frobnicate'],
      ['heartbeat.get', '--frob'],
      ['product.set', 'haproxy', 'no-equals-sign'],
      ['product.set', 'haproxy'],
      ['product.get'],
      ['server.mode', 'a', 'b'],
      ['heartbeat.get', '--wait-lock', 'soon'],
      ['product.get', 'Not_A_Name!'],
    ]) {
      const run = await cli([...on(sb, ...argv), '--json']);
      assert.equal(run.code, 2, argv.join(' '));
      assert.equal(JSON.parse(run.stdout).error.code, 'INVALID_REQUEST', argv.join(' '));
    }
  });

  it('sets and reads values exactly, whatever they hold, with SPEC 2.5.1 JSON', async () => {
    const motd = ` it's $(touch ${sb.root}/pwned) \`id\` ; # = "q" `;
    const set = await cli(on(sb, 'product.set', 'haproxy', `motd=${motd}`, 'maxconn=4096', '--json'));
    assert.equal(set.code, 0, set.stderr);
    const answer = JSON.parse(set.stdout);
    assert.deepEqual(answer.config, { motd, maxconn: '4096' });
    assert.equal(answer.product, 'haproxy');
    assert.match(answer.state.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const one = await cli(on(sb, 'product.get', 'haproxy', 'motd', '--json'));
    assert.deepEqual(JSON.parse(one.stdout), { product: 'haproxy', key: 'motd', value: motd });
    const raw = await cli(on(sb, 'product.get', 'haproxy', 'motd'));
    assert.equal(raw.stdout, `${motd}\n`);
    const unset = await cli(on(sb, 'product.get', 'haproxy', 'frontend_port', '--json'));
    assert.deepEqual(JSON.parse(unset.stdout), { product: 'haproxy', key: 'frontend_port', value: null });
    assert.equal(existsSync(`${sb.root}/pwned`), false);
  });

  it('maps refusals to SPEC 2.6 exit codes and changes nothing', async () => {
    const before = readFileSync(`${sb.stateDir}/products/haproxy.ini`, 'utf8');
    const cases: Array<[string[], string, number]> = [
      [['product.set', 'haproxy', 'nope=1'], 'INVALID_KEY', 2],
      [['product.set', 'haproxy', 'maxconn=1', 'motd=a\u0001b'], 'INVALID_VALUE', 2],
      [['product.set', 'ghost', 'k=1'], 'UNKNOWN_PRODUCT', 2],
      [['server.mode', 'sideways'], 'INVALID_MODE', 2],
      [['server.provision', '--role', 'nosuchrole'], 'UNKNOWN_ROLE', 2],
      [['operation.get', 'op_nothing_here'], 'INVALID_REQUEST', 2],
    ];
    for (const [argv, code, exit] of cases) {
      const run = await cli([...on(sb, ...argv), '--json']);
      assert.equal(JSON.parse(run.stdout).error.code, code, argv.join(' '));
      assert.equal(run.code, exit, argv.join(' '));
    }
    assert.equal(readFileSync(`${sb.stateDir}/products/haproxy.ini`, 'utf8'), before);
    const missing = await cli([
      '--config',
      `${sb.root}/nope.ini`,
      '--state-dir',
      sb.stateDir,
      'heartbeat.get',
      '--json',
    ]);
    assert.equal(missing.code, 6);
    assert.equal(JSON.parse(missing.stdout).error.code, 'CONFIG_ERROR');
    const human = await cli(on(sb, 'server.mode', 'sideways'));
    assert.match(human.stderr, /^error: INVALID_MODE: /);
  });

  it('provisions, upgrades and reports failure with the exit code of the journal error', async () => {
    const provision = await cli(on(sb, 'server.provision', '--role', 'edge', '--json'));
    assert.equal(provision.code, 0, provision.stderr);
    const journal = JSON.parse(provision.stdout);
    assert.equal(journal.status, 'succeeded');
    assert.deepEqual(
      journal.steps.map((s: { product: string }) => s.product),
      ['haproxy', 'deepfiler'],
    );
    assert.deepEqual(JSON.parse((await cli(on(sb, 'server.mode', '--json'))).stdout), { mode: 'active' });

    sb.behave('deepfiler', 'upgrade', { exit: 7, output: 'disk full' });
    const failed = await cli(on(sb, 'product.upgrade', 'deepfiler', '9.9.9'));
    assert.equal(failed.code, 4);
    assert.match(failed.stdout, /failed/);
    assert.match(failed.stdout, /HOOK_FAILED/);
    assert.match(failed.stdout, /disk full/);

    sb.behave('deepfiler', 'upgrade', {});
    const ok = await cli(on(sb, 'product.upgrade', 'deepfiler', '3.2.1', '--json'));
    assert.equal(ok.code, 0);
    const again = await cli(on(sb, 'operation.get', JSON.parse(ok.stdout).id, '--json'));
    assert.deepEqual(JSON.parse(again.stdout), JSON.parse(ok.stdout));
    const heartbeat = JSON.parse((await cli(on(sb, 'heartbeat.get', '--json'))).stdout);
    assert.deepEqual(heartbeat.products.deepfiler, { version: '3.2.1', status: 'provisioned' });
    assert.equal(heartbeat.lock, null);
    assert.equal(heartbeat.lastOperation.status, 'succeeded');
    const appstack = JSON.parse((await cli(on(sb, 'heartbeat.appstack', '--json'))).stdout);
    assert.equal(appstack.status, 'healthy');
  });

  it('--dry-run prints the program and runs nothing', async () => {
    const fresh = createSandbox();
    try {
      const run = await cli(on(fresh, 'product.set', 'haproxy', 'maxconn=1', '--dry-run'));
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /b_take_lock/);
      assert.match(run.stdout, /b_write_b64 '.*\/products\/haproxy\.ini'/);
      const provision = await cli(on(fresh, 'server.provision', '--role', 'edge', '--dry-run'));
      assert.match(provision.stdout, /setsid/);
      assert.equal(existsSync(fresh.stateDir), false);
      assert.equal(existsSync(`${fresh.root}/out/haproxy.provision.done`), false);
    } finally {
      fresh.cleanup();
    }
  });

  it('is LOCKED (exit 3) while a long operation runs, and --wait-lock waits for it', async () => {
    sb.behave('haproxy', 'upgrade', { sleep: 2 });
    const detached = await cli(on(sb, 'product.upgrade', 'haproxy', '2.0', '--detach', '--json'));
    assert.equal(detached.code, 0, detached.stderr);
    const running = JSON.parse(detached.stdout);
    assert.equal(running.status, 'running');
    const locked = await cli(on(sb, 'server.mode', 'drain', '--json'));
    assert.equal(locked.code, 3);
    const error = JSON.parse(locked.stdout).error;
    assert.equal(error.code, 'LOCKED');
    assert.equal(error.details.pid, running.pid);
    assert.equal(error.details.operation, running.id);
    assert.equal(error.details.command, 'product.upgrade');
    const waited = await cli(on(sb, 'server.mode', 'drain', '--wait-lock', '10', '--json'));
    assert.equal(waited.code, 0, waited.stdout);
    sb.behave('haproxy', 'upgrade', {});
  });

  it('calls back with a signed one-target aggregated result', async () => {
    const receiver = await startCallbackReceiver([200], { secret: 's3cret' });
    try {
      const run = await cli(
        on(sb, 'product.set', 'deepfiler', 'threads=8', '--callback', receiver.url, '--json'),
        {
          CALLBACK_SECRET: 's3cret',
        },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).config.threads, '8');
      assert.equal(receiver.requests.length, 1);
      const request = receiver.requests[0]!;
      const body = JSON.parse(request.body);
      assert.equal(body.command, 'product.set');
      assert.deepEqual(body.summary, { total: 1, succeeded: 1, failed: 0, unreachable: 0, skipped: 0 });
      assert.equal(body.targets[0].result.config.threads, '8');
      assert.equal(request.headers['idempotency-key'], body.operationId);
      assert.ok(
        verifySignature(request.body, String(request.headers['x-bootstrap-signature']), 's3cret', 300),
      );
    } finally {
      await receiver.close();
    }
  });
});

describe('the cloudiq-bootstrap binary', () => {
  it('runs from a checkout with the exit codes of SPEC 2.6', () => {
    const sb = createSandbox();
    try {
      const run = (...argv: string[]) =>
        spawnSync(process.execPath, ['bin/cloudiq-bootstrap.js', ...argv], { encoding: 'utf8' });
      const ok = run(...on(sb, 'server.mode', '--json'));
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), { mode: 'maintenance' });
      const bad = run(...on(sb, 'server.mode', 'nope'));
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /INVALID_MODE/);
    } finally {
      sb.cleanup();
    }
  });
});
