/**
 * One fleet run over three transports at once — a local host, a real sshd host and an SSM managed
 * node behind the loopback SSM endpoint — from the CLI, with the SSM client built from the SDK's
 * standard chain (AWS_ENDPOINT_URL_SSM, AWS_REGION, static credentials in the environment).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fleetArgv, runCli } from '../support/cli.ts';
import { ownedBy } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, startSshd } from '../support/sshd.ts';
import {
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
  useSsmServerInEnv,
} from '../support/ssm-server.ts';
import { Teardown } from '../support/teardown.ts';

describe('a fleet run over local, ssh and ssm hosts together', () => {
  let dir: string;
  let inventory: string;
  let sshd: SshdHost;
  let ssm: SsmTestServer;
  const teardown = new Teardown();

  before(async () => {
    dir = teardown.tempDir('cloudiq-mixed-');
    const user = await ensureTestUser();
    sshd = await startSshd();
    teardown.add(() => sshd.stop());
    ssm = await startSsmServer({ region: 'eu-west-1' });
    teardown.add(() => ssm.close());
    const local = teardown.sandbox();
    const remote = teardown.sandbox(ownedBy(user));
    const managed = teardown.sandbox();
    const instanceId = testInstanceId(7);
    ssm.addInstance(instanceId);
    inventory = join(dir, 'inventory.ini');
    writeFileSync(
      inventory,
      [
        '[host:here]',
        'transport = local',
        `config_path = ${local.configPath}`,
        `state_dir = ${local.stateDir}`,
        '',
        '[host:over-ssh]',
        'transport = ssh',
        `address = ${sshd.host}`,
        `port = ${sshd.port}`,
        `user = ${sshd.user}`,
        `identity = ${sshd.identityFile}`,
        `known_hosts = ${sshd.knownHostsFile}`,
        `config_path = ${remote.configPath}`,
        `state_dir = ${remote.stateDir}`,
        '',
        '[host:over-ssm]',
        'transport = ssm',
        `instance_id = ${instanceId}`,
        'region = eu-west-1',
        `config_path = ${managed.configPath}`,
        `state_dir = ${managed.stateDir}`,
        '',
      ].join('\n'),
    );
    // The CLI builds its SSM client from the SDK's standard chain, as an operator's shell would.
    teardown.add(useSsmServerInEnv(ssm));
  });
  after(() => teardown.run());

  it('provisions and upgrades every host with one result vocabulary and one operation id', async () => {
    const provision = await runCli(fleetArgv(inventory, 'all', 'server.provision', '--role', 'edge'));
    assert.equal(provision.code, 0, provision.stdout + provision.stderr);
    const upgrade = await runCli(fleetArgv(inventory, 'all', 'product.upgrade', 'deepfiler', '3.2.1'));
    assert.equal(upgrade.code, 0, upgrade.stdout + upgrade.stderr);
    const result = JSON.parse(upgrade.stdout);
    assert.deepEqual(result.summary, { total: 3, succeeded: 3, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      result.targets.map((t: { server: string }) => t.server),
      ['here', 'over-ssh', 'over-ssm'],
    );
    // The same journal on every transport, but for what differs between hosts by nature.
    const normalised = result.targets.map((t: { result: Record<string, unknown> }) =>
      JSON.stringify({ ...t.result, pid: 0 }).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, 'T'),
    );
    assert.equal(new Set(normalised).size, 1, normalised.join('\n'));
    assert.ok(ssm.sendCommands.length > 0, 'the ssm host was reached through SSM');

    const heartbeat = await runCli(['--inventory', inventory, '--select', 'all', 'heartbeat.get', '--json']);
    const products = JSON.parse(heartbeat.stdout).targets.map(
      (t: { result: { products: { deepfiler: unknown } } }) => t.result.products.deepfiler,
    );
    assert.deepEqual(products, Array(3).fill({ version: '3.2.1', status: 'provisioned' }));
  });
});
