import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCallbackReceiver } from '../support/callback-receiver.ts';
import { fleetArgv, runCli } from '../support/cli.ts';
import { createSandbox, ownedBy, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, startSshd } from '../support/sshd.ts';

const cli = runCli;

describe('fleet runs from the CLI (--inventory --select)', () => {
  const sandboxes: Record<string, Sandbox> = {};
  let dir: string;
  let inventory: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-inv-'));
    const sections = ['[defaults]', 'transport = local', ''];
    for (const [name, groups] of [
      ['web-1', 'edge'],
      ['web-2', 'edge'],
      ['web-3', 'edge'],
      ['worker-1', 'workers'],
    ] as const) {
      const sb = createSandbox();
      sandboxes[name] = sb;
      sections.push(
        `[host:${name}]`,
        `groups = ${groups}`,
        `config_path = ${sb.configPath}`,
        `state_dir = ${sb.stateDir}`,
        '',
      );
    }
    inventory = join(dir, 'inventory.ini');
    writeFileSync(inventory, sections.join('\n'));
  });
  after(() => {
    for (const sb of Object.values(sandboxes)) sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('upgrades a group with a canary and prints the aggregated result of SPEC 4', async () => {
    const run = await cli(fleetArgv(inventory, 'group:edge', 'product.upgrade', 'deepfiler', '3.2.1'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(result.args, { product: 'deepfiler', version: '3.2.1' });
    assert.deepEqual(result.summary, { total: 3, succeeded: 3, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      result.targets.map((t: { server: string }) => t.server),
      ['web-1', 'web-2', 'web-3'],
    );
    for (const t of result.targets) {
      assert.equal(t.result.status, 'succeeded');
      assert.equal(t.result.id, result.operationId, 'one operation id on every host');
    }
    assert.equal(readVersion(sandboxes['worker-1']!), undefined, 'hosts outside the selection are untouched');
  });

  it('stops at maxErrors, skips the rest, and exits 4 with a failed host named', async () => {
    sandboxes['web-1']!.behave('haproxy', 'upgrade', { exit: 5, output: 'bad package' });
    const run = await cli(
      fleetArgv(
        inventory,
        'web-1,web-2,web-3',
        'product.upgrade',
        'haproxy',
        '2.9',
        '--canary',
        '0',
        '--max-concurrency',
        '1',
        '--max-errors',
        '0',
      ),
    );
    assert.equal(run.code, 4);
    const result = JSON.parse(run.stdout);
    assert.equal(result.status, 'failed');
    assert.deepEqual(
      result.targets.map((t: { status: string }) => t.status),
      ['failed', 'skipped', 'skipped'],
    );
    assert.equal(result.targets[0].error.code, 'HOOK_FAILED');
    const human = await cli(['--inventory', inventory, '--select', 'web-1', 'server.mode']);
    assert.match(human.stdout, /^succeeded \(1\)\n {2}web-1 +\w+\n/);
  });

  it('fails the health gate when a host is unhealthy after its upgrade, and calls back', async () => {
    sandboxes['web-1']!.behave('haproxy', 'upgrade', {});
    sandboxes['web-2']!.setHealthy('deepfiler', false);
    const receiver = await startCallbackReceiver([200]);
    try {
      const run = await cli(
        fleetArgv(
          inventory,
          'group:edge',
          'product.upgrade',
          'haproxy',
          '3.0',
          '--max-errors',
          '1',
          '--callback',
          receiver.url,
        ),
      );
      assert.equal(run.code, 4);
      const result = JSON.parse(run.stdout);
      assert.equal(result.status, 'partial');
      const web2 = result.targets.find((t: { server: string }) => t.server === 'web-2');
      assert.equal(web2.status, 'failed');
      assert.equal(web2.error.details.reason, 'HEALTH_GATE_FAILED');
      assert.deepEqual(result.callback, { delivered: true, attempts: 1 });
      assert.equal(JSON.parse(receiver.requests[0]!.body).operationId, result.operationId);
    } finally {
      await receiver.close();
      sandboxes['web-2']!.setHealthy('deepfiler', true);
    }
  });

  it('refuses unknown servers and bad rate values before reaching any host', async () => {
    const unknown = await cli(['--inventory', inventory, '--select', 'web-9', 'heartbeat.get', '--json']);
    assert.equal(unknown.code, 2);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'UNKNOWN_SERVER');
    const bad = await cli(fleetArgv(inventory, 'all', 'heartbeat.get', '--max-concurrency', 'lots'));
    assert.equal(bad.code, 2);
    assert.equal(JSON.parse(bad.stdout).error.code, 'INVALID_REQUEST');
  });
});

function readVersion(sb: Sandbox): string | undefined {
  try {
    return /version=(.*)/.exec(
      execFileSync('cat', [`${sb.stateDir}/products/deepfiler.ini`], { encoding: 'utf8' }),
    )?.[1];
  } catch {
    return undefined;
  }
}

describe('one server over SSH from the CLI (--host)', () => {
  let sshd: SshdHost;
  let sandbox: Sandbox;

  before(async () => {
    const user = await ensureTestUser();
    sshd = await startSshd();
    sandbox = createSandbox(ownedBy(user));
  });
  after(async () => {
    sandbox.cleanup();
    await sshd.stop();
  });

  const target = () => [
    '--host',
    `${sshd.user}@${sshd.host}:${sshd.port}`,
    '--identity',
    sshd.identityFile,
    '--config',
    sandbox.configPath,
    '--state-dir',
    sandbox.stateDir,
  ];

  it('runs commands with known_hosts verification', async () => {
    const knownHosts = ['--known-hosts', sshd.knownHostsFile];
    const set = await cli([...target(), ...knownHosts, 'product.set', 'haproxy', 'maxconn=77', '--json']);
    assert.equal(set.code, 0, set.stdout + set.stderr);
    assert.equal(JSON.parse(set.stdout).config.maxconn, '77');
    const hostKey = ['--host-key', sshd.hostKeyFingerprint];
    const provision = await cli([...target(), ...hostKey, 'server.provision', '--role', 'worker', '--json']);
    assert.equal(provision.code, 0, provision.stdout);
    assert.equal(JSON.parse(provision.stdout).status, 'succeeded');
  });

  it('refuses a host whose key is not trusted, running nothing (exit 5)', async () => {
    const empty = join(sandbox.root, 'empty_known_hosts');
    writeFileSync(empty, '');
    const run = await cli([...target(), '--known-hosts', empty, 'server.mode', 'drain', '--json']);
    assert.equal(run.code, 5);
    const error = JSON.parse(run.stdout).error;
    assert.equal(error.code, 'HOST_KEY_MISMATCH');
    assert.equal(error.details.reason, 'unknown');
    const mode = await cli([
      '--config',
      sandbox.configPath,
      '--state-dir',
      sandbox.stateDir,
      'server.mode',
      '--json',
    ]);
    assert.deepEqual(JSON.parse(mode.stdout), { mode: 'active' });
  });
});
