// A batch upgrade over a loopback fleet: five real sshd hosts, each with its own sandbox
// (bootstrap.ini, hooks, checks, state dir) and a sixth inventory host on a port nobody listens
// on. The inventory file is parsed and selected as the CLI does; each target runs the real
// operation over SSH.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadInventory, selectHosts } from '../../lib/config/inventory.ts';
import { BootstrapError, isErrorCode } from '../../lib/errors.ts';
import { commandArgs, type FleetResult, type RunFleetOptions, runFleet } from '../../lib/fleet/index.ts';
import { newOperationId } from '../../lib/operations/ids.ts';
import { type AppstackAnswer, type Journal, runCommand } from '../../lib/operations/index.ts';
import type { CommandRequest, HostTarget } from '../../lib/operations/types.ts';
import { sshEndpointForHost } from '../../lib/orchestrate/inventory-endpoint.ts';
import { createSshTransport, SshPool } from '../../lib/transport/ssh/index.ts';
import { statuses, thenSkipped } from '../support/fleet-results.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshFleet, startSshFleet } from '../support/sshd.ts';

const run = promisify(execFile);
const HOSTS = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5'];
const DEAD = 'web-6';

async function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

describe('fleet upgrade over real sshd hosts', () => {
  let ssh: SshFleet;
  let pool: SshPool;
  let dir = '';
  let inventoryFile = '';
  const sandboxes = new Map<string, Sandbox>();
  const targets = new Map<string, HostTarget>();

  before(async () => {
    const user = await ensureTestUser();
    const ids = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    const owner = { uid: Number(ids[0].stdout.trim()), gid: Number(ids[1].stdout.trim()) };
    ssh = await startSshFleet(HOSTS.length);
    pool = new SshPool({ connectAttempts: 1, connectTimeoutMs: 5000 });
    dir = await mkdtemp(join(tmpdir(), 'fleet-sshd-'));
    const sections = ssh.hosts.map((host, i) => {
      const sandbox = createSandbox(process.getuid?.() === 0 ? { owner } : {});
      sandboxes.set(HOSTS[i]!, sandbox);
      return [
        `[host:${HOSTS[i]}]`,
        'address = 127.0.0.1',
        `port = ${host.port}`,
        `groups = edge`,
        `config_path = ${sandbox.configPath}`,
        `state_dir = ${sandbox.stateDir}`,
        '',
      ].join('\n');
    });
    const dead = `[host:${DEAD}]\naddress = 127.0.0.1\nport = ${await unusedPort()}\ngroups = edge\n`;
    inventoryFile = join(dir, 'inventory.ini');
    const defaults = [
      '[defaults]',
      'transport = ssh',
      `user = ${ssh.hosts[0]!.user}`,
      `identity = ${ssh.identityFile}`,
      `known_hosts = ${ssh.knownHostsFile}`,
      '',
    ];
    await writeFile(inventoryFile, [...defaults, ...sections, dead].join('\n'));
    const inventory = await loadInventory(inventoryFile);
    for (const host of selectHosts(inventory, 'group:edge')) {
      const transport = createSshTransport({
        ...sshEndpointForHost(inventory, host),
        target: host.name,
        pool,
      });
      targets.set(host.name, {
        name: host.name,
        transport,
        configPath: host.configPath ?? '/etc/cloudiq/bootstrap.ini',
        stateDir: host.stateDir ?? '/var/bootstrap',
      });
    }
  });

  after(async () => {
    for (const target of targets.values()) await target.transport.close();
    await pool?.close();
    await ssh?.stop();
    for (const sandbox of sandboxes.values()) sandbox.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Upgrades `product` to `version` over `group:edge`, as `runFleetOperation` would, watching concurrency. */
  async function upgrade(product: string, version: string, options: Partial<RunFleetOptions> = {}) {
    const request: CommandRequest = { command: 'product.upgrade', product, version };
    const inventory = await loadInventory(inventoryFile);
    const selection = selectHosts(inventory, 'group:edge').map((host) => host.name);
    let active = 0;
    const seen = { peak: 0, started: [] as string[] };
    const result: FleetResult = await runFleet({
      operationId: newOperationId(),
      command: request.command,
      args: commandArgs(request),
      targets: selection,
      runTarget: async (server, signal) => {
        seen.started.push(server);
        active += 1;
        seen.peak = Math.max(seen.peak, active);
        try {
          const journal = (await runCommand(targets.get(server)!, request, { signal })) as Journal;
          if (journal.status === 'failed' && journal.error) {
            const code = isErrorCode(journal.error.code) ? journal.error.code : 'INTERNAL';
            throw new BootstrapError(code, journal.error.message, { journal });
          }
          return { status: 'succeeded', result: journal };
        } finally {
          active -= 1;
        }
      },
      healthCheck: async (server, signal) =>
        (await runCommand(
          targets.get(server)!,
          { command: 'heartbeat.appstack' },
          { signal },
        )) as AppstackAnswer,
      ...options,
    });
    return { result, seen };
  }

  it('stops at a failed canary: nothing else is touched', async () => {
    sandboxes.get('web-1')!.behave('deepfiler', 'upgrade', { exit: 7 });
    const { result, seen } = await upgrade('deepfiler', '3.2.0');
    sandboxes.get('web-1')!.behave('deepfiler', 'upgrade', { exit: 0 });
    assert.deepEqual(seen.started, ['web-1']);
    assert.deepEqual(statuses(result), thenSkipped(['web-1:failed'], 6));
    assert.equal(result.status, 'failed');
    const canary = result.targets[0];
    assert.ok(canary?.status === 'failed');
    assert.equal(canary.error.code, 'HOOK_FAILED');
    for (const name of HOSTS.slice(1)) {
      assert.ok(
        !existsSync(sandboxes.get(name)!.hookEnvFile('deepfiler', 'upgrade')),
        `${name} was upgraded`,
      );
    }
  });

  it('upgrades with a canary, 50% at a time, a health gate and an unreachable host counted apart', async () => {
    sandboxes.get('web-3')!.setHealthy('deepfiler', false);
    for (const name of HOSTS) sandboxes.get(name)!.behave('deepfiler', 'upgrade', { sleep: 1 });
    try {
      const { result, seen } = await upgrade('deepfiler', '3.2.1', { maxConcurrency: '50%', maxErrors: 1 });
      assert.equal(seen.started[0], 'web-1', 'the canary runs first');
      assert.equal(seen.peak, 3, '50% of 6 targets');
      assert.deepEqual(statuses(result), [
        'web-1:succeeded',
        'web-2:succeeded',
        'web-3:failed',
        'web-4:succeeded',
        'web-5:succeeded',
        'web-6:unreachable',
      ]);
      assert.equal(result.status, 'partial');
      assert.deepEqual(result.summary, { total: 6, succeeded: 4, failed: 1, unreachable: 1, skipped: 0 });
      assert.deepEqual(result.args, { product: 'deepfiler', version: '3.2.1' });

      const gated = result.targets[2];
      assert.ok(gated?.status === 'failed');
      assert.equal(gated.error.code, 'UNHEALTHY');
      assert.equal(gated.error.details['reason'], 'HEALTH_GATE_FAILED');
      const appstack = gated.error.details['appstack'] as AppstackAnswer;
      assert.equal(appstack.status, 'degraded');
      assert.equal((gated.error.details['result'] as Journal).status, 'succeeded', 'the upgrade itself ran');

      const dead = result.targets[5];
      assert.ok(dead?.status === 'unreachable');
      assert.equal(dead.error.code, 'UNREACHABLE');

      const upgraded = result.targets[0];
      assert.ok(upgraded?.status === 'succeeded');
      const journal = upgraded.result as Journal;
      assert.equal(journal.status, 'succeeded');
      assert.equal(journal.command, 'product.upgrade');
    } finally {
      sandboxes.get('web-3')!.setHealthy('deepfiler', true);
      for (const name of HOSTS) sandboxes.get(name)!.behave('deepfiler', 'upgrade', {});
    }
  });

  it('with maxErrors 0, the first failure after the canary stops the rest', async () => {
    sandboxes.get('web-3')!.behave('haproxy', 'upgrade', { exit: 2 });
    try {
      const { result, seen } = await upgrade('haproxy', '2.9.0', { maxConcurrency: 1, maxErrors: 0 });
      assert.deepEqual(seen.started, ['web-1', 'web-2', 'web-3']);
      assert.deepEqual(
        statuses(result),
        thenSkipped(['web-1:succeeded', 'web-2:succeeded', 'web-3:failed'], 6),
      );
      assert.equal(result.status, 'partial');
      for (const name of ['web-4', 'web-5']) {
        assert.ok(
          !existsSync(sandboxes.get(name)!.hookEnvFile('haproxy', 'upgrade')),
          `${name} was upgraded`,
        );
      }
    } finally {
      sandboxes.get('web-3')!.behave('haproxy', 'upgrade', {});
    }
  });
});
