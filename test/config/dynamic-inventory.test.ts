/**
 * Dynamic inventory (SPEC 3.1 v2): `[source:NAME]` sections listed by the real SDK clients
 * against loopback EC2 (query protocol, XML) and SSM (JSON 1.1) endpoints that force small
 * pages, honour filters as AWS does and can refuse access. Then one fleet run from the CLI over
 * hosts only the SSM source knows, its clients built from the SDK's standard chain.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expandInventory, type SourceClients } from '../../lib/config/dynamic-inventory.ts';
import { type Inventory, parseInventory, selectHosts } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { fleetArgv, runCli } from '../support/cli.ts';
import { createTestEc2Client, type Ec2TestServer, startEc2Server } from '../support/ec2-server.ts';
import {
  createTestSsmClient,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
  useSsmServerInEnv,
} from '../support/ssm-server.ts';
import { Teardown } from '../support/teardown.ts';

const FILE = '/etc/cloudiq/inventory.ini';

describe('dynamic inventory sources against loopback EC2 and SSM', () => {
  let ec2: Ec2TestServer;
  let ssm: SsmTestServer;
  let clients: SourceClients;
  const regions: Array<string | null> = [];

  before(async () => {
    [ec2, ssm] = await Promise.all([startEc2Server(), startSsmServer({ region: 'eu-west-1' })]);
    const ec2Client = createTestEc2Client(ec2);
    const ssmClient = createTestSsmClient(ssm, { maxAttempts: 1 });
    clients = {
      ec2For: (region) => {
        regions.push(region);
        return ec2Client;
      },
      ssmFor: () => ssmClient,
    };
    const fleet = { Fleet: 'cloudiq', Env: 'prod' };
    ec2.instances = [
      {
        instanceId: testInstanceId(1),
        privateIp: '10.0.1.1',
        publicIp: '54.0.0.1',
        privateDns: 'ip-10-0-1-1.internal',
        tags: { ...fleet, Name: 'web-1.eu', Role: 'Web, edge' },
      },
      {
        instanceId: testInstanceId(2),
        privateIp: '10.0.1.2',
        tags: { ...fleet, Name: 'web-2', Role: 'web' },
        reservationId: 'r-shared',
      },
      {
        instanceId: testInstanceId(3),
        privateIp: '10.0.1.3',
        tags: { ...fleet, Name: 'db 1 (bad name)', Role: 'db' },
        reservationId: 'r-shared',
      },
      {
        instanceId: testInstanceId(4),
        privateIp: '10.0.1.4',
        state: 'stopped',
        tags: { ...fleet, Name: 'stopped-1' },
      },
      {
        instanceId: testInstanceId(5),
        privateIp: '10.0.1.5',
        tags: { Fleet: 'cloudiq', Env: 'dev', Name: 'dev-1' },
      },
      {
        instanceId: testInstanceId(6),
        privateIp: '10.0.1.6',
        tags: { Fleet: 'other', Env: 'prod', Name: 'other-1' },
      },
      { instanceId: testInstanceId(7), privateIp: '10.0.1.7', tags: { ...fleet, Name: 'twin' } },
      { instanceId: testInstanceId(8), privateIp: '10.0.1.8', tags: { ...fleet, Name: 'twin' } },
      { instanceId: testInstanceId(9), privateIp: '10.0.1.9', tags: { ...fleet, Name: 'static-1' } },
    ];
    ec2.pageSize = 2;
    ssm.managed = [
      { instanceId: testInstanceId(21), ipAddress: '10.0.2.1', tags: { Fleet: 'cloudiq' } },
      { instanceId: testInstanceId(22), ipAddress: '10.0.2.2', tags: { Fleet: 'cloudiq' } },
      {
        instanceId: testInstanceId(23),
        ipAddress: '10.0.2.3',
        tags: { Fleet: 'cloudiq' },
        pingStatus: 'ConnectionLost',
      },
      { instanceId: testInstanceId(24), ipAddress: '10.0.2.4', tags: { Fleet: 'other' } },
      { instanceId: testInstanceId(25), ipAddress: '10.0.2.5', tags: { Fleet: 'cloudiq' } },
      { instanceId: `mi-${'a'.repeat(17)}`, ipAddress: '10.0.2.6', tags: { Fleet: 'cloudiq' } },
    ];
    ssm.pageSize = 2;
  });
  after(async () => {
    await Promise.all([ec2.close(), ssm.close()]);
  });

  const EC2_SOURCE = [
    '[defaults]',
    'user = cloudiq',
    'state_dir = /srv/bootstrap',
    '',
    '[host:static-1]',
    'address = 10.9.9.9',
    '',
    '[source:prod]',
    'kind = ec2',
    'region = eu-west-1',
    'filters = tag:Fleet=cloudiq, tag:Env=prod',
    'groups_from = tag:Role',
    '',
  ].join('\n');

  it('lists running EC2 instances under the tag filters, every page, with names, groups and tags', async () => {
    const before = ec2.requests.length;
    const inventory = await expandInventory(parseInventory(EC2_SOURCE, FILE), clients);
    const requests = ec2.requests.slice(before);
    // 6 reservations match (instances 2 and 3 share one): three pages of two.
    assert.equal(requests.length, 3);
    assert.equal(requests[0]!['Action'], 'DescribeInstances');
    assert.equal(requests[0]!['Filter.1.Name'], 'instance-state-name');
    assert.equal(requests[0]!['Filter.1.Value.1'], 'running');
    assert.equal(requests[0]!['Filter.2.Name'], 'tag:Fleet');
    assert.equal(requests[0]!['Filter.2.Value.1'], 'cloudiq');
    assert.equal(requests[0]!['Filter.3.Name'], 'tag:Env');
    assert.ok(requests[1]!['NextToken'] && requests[2]!['NextToken']);
    assert.deepEqual(regions.at(-1), 'eu-west-1');
    assert.deepEqual(
      inventory.hosts.map((host) => host.name),
      // A static host wins over the dynamic one of its name; twins are named by instance id; an
      // unusable Name tag gives way to the instance id too.
      ['static-1', 'web-1.eu', 'web-2', testInstanceId(3), testInstanceId(7), testInstanceId(8)],
    );
    const web1 = inventory.hosts[1]!;
    assert.equal(web1.transport, 'ssm');
    assert.equal(web1.instanceId, testInstanceId(1));
    assert.equal(web1.region, 'eu-west-1');
    assert.equal(web1.stateDir, '/srv/bootstrap');
    assert.deepEqual(web1.groups, ['web', 'edge']);
    assert.deepEqual(web1.tags, { Fleet: 'cloudiq', Env: 'prod', Name: 'web-1.eu', Role: 'Web, edge' });
    assert.equal(inventory.hosts[0]!.address, '10.9.9.9');
  });

  it('picks dynamic hosts by tag:KEY=VALUE, group and dotted name', async () => {
    const inventory = await expandInventory(parseInventory(EC2_SOURCE, FILE), clients);
    const names = (selector: string) => selectHosts(inventory, selector).map((host) => host.name);
    assert.deepEqual(names('tag:Role=web'), ['web-2']);
    assert.deepEqual(names('tag:Env=prod'), [
      'web-1.eu',
      'web-2',
      testInstanceId(3),
      testInstanceId(7),
      testInstanceId(8),
    ]);
    assert.deepEqual(names('group:web'), ['web-1.eu', 'web-2']);
    assert.deepEqual(names('web-1.eu,static-1'), ['static-1', 'web-1.eu']);
    assert.throws(() => selectHosts(inventory, 'tag:Env=staging'), { code: 'UNKNOWN_SERVER' });
    assert.throws(() => selectHosts(inventory, 'tag:Env'), { code: 'INVALID_REQUEST' });
  });

  it('reaches ssh sources at the address asked for, with [defaults] for the rest', async () => {
    const text = (address: string) =>
      [
        '[defaults]',
        'user = ops',
        'port = 2222',
        '[source:edge]',
        'kind = ec2',
        'filters = tag:Role=web, tag:Role=Web*',
        'transport = ssh',
        `address = ${address}`,
        'name = instance_id',
        '',
      ].join('\n');
    const byPrivate = await expandInventory(parseInventory(text('private_ip'), FILE), clients);
    assert.deepEqual(
      byPrivate.hosts.map((host) => [host.name, host.transport, host.address, host.user, host.port]),
      [
        [testInstanceId(1), 'ssh', '10.0.1.1', 'ops', 2222],
        [testInstanceId(2), 'ssh', '10.0.1.2', 'ops', 2222],
      ],
    );
    // Only instance 1 has a public address: the other cannot be reached that way and is left out.
    const byPublic = await expandInventory(parseInventory(text('public_ip'), FILE), clients);
    assert.deepEqual(
      byPublic.hosts.map((host) => host.address),
      ['54.0.0.1'],
    );
    const byDns = await expandInventory(parseInventory(text('private_dns'), FILE), clients);
    assert.deepEqual(
      byDns.hosts.map((host) => host.address),
      ['ip-10-0-1-1.internal'],
    );
  });

  it('lists online SSM managed instances under the tag filter, following NextToken', async () => {
    const before = ssm.calls['DescribeInstanceInformation'] ?? 0;
    const inventory = await expandInventory(
      parseInventory('[source:managed]\nkind = ssm\nregion = eu-west-1\nfilters = tag:Fleet=cloudiq\n', FILE),
      clients,
    );
    // 4 online instances carry Fleet=cloudiq: two pages of two.
    assert.equal((ssm.calls['DescribeInstanceInformation'] ?? 0) - before, 2);
    assert.deepEqual(
      inventory.hosts.map((host) => [host.name, host.transport, host.instanceId]),
      [testInstanceId(21), testInstanceId(22), testInstanceId(25), `mi-${'a'.repeat(17)}`].map((id) => [
        id,
        'ssm',
        id,
      ]),
    );
    assert.deepEqual(inventory.hosts[0]!.tags, { Fleet: 'cloudiq' });
    assert.deepEqual(selectHosts(inventory, 'tag:Fleet=cloudiq').length, 4);
  });

  it('turns a source AWS refuses to list into CONFIG_ERROR naming the source', async () => {
    ec2.fault = {
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
    };
    ssm.describeFault = {
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: ssm:DescribeInstanceInformation',
    };
    try {
      await assert.rejects(expandInventory(parseInventory(EC2_SOURCE, FILE), clients), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'CONFIG_ERROR');
        assert.match(error.message, /\[source:prod\] cannot be listed/);
        assert.match(error.message, /UnauthorizedOperation/);
        assert.equal(error.details['source'], 'prod');
        return true;
      });
      await assert.rejects(
        expandInventory(parseInventory('[source:managed]\nkind = ssm\n', FILE), clients),
        (error: unknown) => {
          assert.ok(error instanceof BootstrapError);
          assert.equal(error.code, 'CONFIG_ERROR');
          assert.match(error.message, /\[source:managed\] cannot be listed/);
          assert.match(error.message, /AccessDenied/);
          return true;
        },
      );
    } finally {
      ec2.fault = undefined;
      ssm.describeFault = undefined;
    }
  });

  it('refuses malformed sources with CONFIG_ERROR naming section and key', () => {
    const refused = (text: string, key: string | null) =>
      assert.throws(
        () => parseInventory(text, FILE),
        (error: unknown) => {
          assert.ok(error instanceof BootstrapError);
          assert.equal(error.code, 'CONFIG_ERROR');
          assert.equal(error.details['key'], key);
          return true;
        },
      );
    refused('[source:a]\n', 'kind');
    refused('[source:a]\nkind = gcp\n', 'kind');
    refused('[source:a]\nkind = ec2\nfilters = Fleet=cloudiq\n', 'filters');
    refused('[source:a]\nkind = ec2\nsecret = x\n', 'secret');
    refused('[source:a]\nkind = ec2\naddress = elastic_ip\n', 'address');
    refused('[source:a]\nkind = ssm\nname = tag:Name\n', 'name');
    refused('[source:a]\nkind = ssm\ngroups_from = tag:Role\n', 'groups_from');
    const ok: Inventory = parseInventory('[source:a]\nkind = ec2\n', FILE);
    assert.equal(ok.sources?.[0]?.transport, 'ssm');
  });
});

describe('a fleet run over hosts only an SSM source knows, from the CLI', () => {
  let ssm: SsmTestServer;
  let dir: string;
  let inventory: string;
  const teardown = new Teardown();

  before(async () => {
    ssm = await startSsmServer({ region: 'eu-west-1' });
    teardown.add(() => ssm.close());
    dir = teardown.tempDir('cloudiq-dynamic-');
    const sandbox = teardown.sandbox();
    for (const n of [31, 32]) {
      ssm.addInstance(testInstanceId(n));
      ssm.managed.push({ instanceId: testInstanceId(n), tags: { Fleet: 'cloudiq' } });
    }
    ssm.managed.push({ instanceId: testInstanceId(33), tags: { Fleet: 'other' } });
    inventory = join(dir, 'inventory.ini');
    writeFileSync(
      inventory,
      [
        '[defaults]',
        `config_path = ${sandbox.configPath}`,
        `state_dir = ${sandbox.stateDir}`,
        '',
        '[source:fleet]',
        'kind = ssm',
        'filters = tag:Fleet=cloudiq',
        '',
      ].join('\n'),
    );
    teardown.add(useSsmServerInEnv(ssm));
  });
  after(() => teardown.run());

  it('lists the source once and runs the command on every host it lists', async () => {
    const run = await runCli(fleetArgv(inventory, 'tag:Fleet=cloudiq', 'server.mode'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(
      result.targets.map((t: { server: string }) => t.server),
      [testInstanceId(31), testInstanceId(32)],
    );
    assert.equal(ssm.calls['DescribeInstanceInformation'], 1);
    assert.ok(ssm.sendCommands.length > 0);
  });

  it('builds its clients for --profile from that profile of the shared config files', async () => {
    writeFileSync(
      join(dir, 'credentials'),
      '[ops]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = x\n',
    );
    writeFileSync(join(dir, 'config'), '[profile ops]\nregion = eu-west-1\n');
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_CONFIG_FILE: join(dir, 'config'),
    });
    const before = ssm.accessKeys.length;
    try {
      const run = await runCli(fleetArgv(inventory, 'all', '--profile', 'ops', 'server.mode'));
      assert.equal(run.code, 0, run.stdout + run.stderr);
    } finally {
      delete process.env['AWS_SHARED_CREDENTIALS_FILE'];
      delete process.env['AWS_CONFIG_FILE'];
    }
    const used = ssm.accessKeys.slice(before);
    assert.ok(used.length >= 2);
    assert.deepEqual(new Set(used), new Set(['AKIDFROMPROFILE']));
  });

  it('takes --limit as another name for --select, and refuses both at once', async () => {
    const run = await runCli([
      '--inventory',
      inventory,
      '--limit',
      testInstanceId(32),
      'server.mode',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(
      JSON.parse(run.stdout).targets.map((t: { server: string }) => t.server),
      [testInstanceId(32)],
    );
    const both = await runCli(['--inventory', inventory, '--limit', 'all', '--select', 'all', 'server.mode']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--limit is another name for --select/);
  });
});
