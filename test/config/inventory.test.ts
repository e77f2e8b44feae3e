import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Inventory } from '../../lib/config/inventory.ts';
import { loadInventory, parseInventory, selectHosts } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { sshEndpointForHost } from '../../lib/orchestrate/inventory-endpoint.ts';
import { createInventoryFleet } from '../../lib/orchestrate/inventory-fleet.ts';
import { SPEC_INVENTORY } from '../support/spec-inventory.ts';

const FILE = '/etc/cloudiq/inventory.ini';
const PIN = `SHA256:${'3mrfx'.padEnd(43, 'Q')}`;

const EXAMPLE = `
; SPEC 3.1's example, completed
[defaults]
transport = ssh
user = cloudiq
port = 22
identity = ~/.ssh/cloudiq_ed25519
known_hosts = ~/.ssh/known_hosts

[host:web-1]
address = 10.0.1.11
groups = edge, eu

[host:web-2]
address = 10.0.1.12
host_key = ${PIN}                ; pinned fingerprint, instead of known_hosts
jump = bastion                          ; reach it through [host:bastion]
groups = edge

[host:bastion]
address = bastion.example.com
port = 2222
user = jump
accept_new_host_key = true

[host:worker-7]
transport = ssm
instance_id = i-0123456789abcdef0
region = eu-west-1
groups = workers
state_dir = /srv/bootstrap
config_path = /srv/cloudiq/bootstrap.ini
`;

function configError(text: string, section: string | null, key: string | null): BootstrapError {
  try {
    parseInventory(text, FILE);
  } catch (error) {
    assert.ok(error instanceof BootstrapError);
    assert.equal(error.code, 'CONFIG_ERROR', error.message);
    assert.deepEqual(error.details, { file: FILE, section, key }, error.message);
    assert.ok(error.message.startsWith(`${FILE}: `), error.message);
    return error;
  }
  assert.fail(`accepted: ${text}`);
}

/**
 * A CONFIG_ERROR of one host's own section: the file is read, the host listed, and the error
 * (naming file, section and key, worded as when it refused the file) thrown when it is a target.
 */
function hostError(text: string, host: string, key: string, section = `host:${host}`): BootstrapError {
  const inventory = parseInventory(text, FILE);
  const fleet = createInventoryFleet(inventory, { ssmClientFor: () => assert.fail('no SSM client here') });
  assert.ok(
    fleet.servers().some((server) => server.name === host),
    `${host} is listed`,
  );
  try {
    fleet.target(host);
  } catch (error) {
    assert.ok(error instanceof BootstrapError);
    assert.equal(error.code, 'CONFIG_ERROR', error.message);
    assert.deepEqual(error.details, { file: FILE, section, key }, error.message);
    assert.ok(error.message.startsWith(`${FILE}: [${section}] ${key}: `), error.message);
    return error;
  }
  assert.fail(`${host} is a target: ${text}`);
}

describe('inventory parsing', () => {
  it('reads every key, merges [defaults], expands ~ and keeps file order', () => {
    const inventory = parseInventory(EXAMPLE, FILE);
    const home = homedir();
    assert.deepEqual(
      inventory.hosts.map((host) => host.name),
      ['web-1', 'web-2', 'bastion', 'worker-7'],
    );
    assert.deepEqual(inventory.hosts[0], {
      name: 'web-1',
      transport: 'ssh',
      address: '10.0.1.11',
      port: 22,
      user: 'cloudiq',
      identity: `${home}/.ssh/cloudiq_ed25519`,
      knownHosts: `${home}/.ssh/known_hosts`,
      hostKey: [],
      jump: null,
      instanceId: null,
      region: null,
      groups: ['edge', 'eu'],
      stateDir: null,
      configPath: null,
      acceptNewHostKey: null,
    });
    assert.deepEqual(inventory.hosts[1]?.hostKey, [PIN]);
    assert.equal(inventory.hosts[1]?.jump, 'bastion');
    assert.equal(inventory.hosts[2]?.port, 2222);
    assert.equal(inventory.hosts[2]?.user, 'jump');
    assert.equal(inventory.hosts[2]?.acceptNewHostKey, true);
    assert.deepEqual(
      { ...inventory.hosts[3], identity: null, knownHosts: null },
      {
        name: 'worker-7',
        transport: 'ssm',
        address: null,
        port: 22,
        user: 'cloudiq',
        identity: null,
        knownHosts: null,
        hostKey: [],
        jump: null,
        instanceId: 'i-0123456789abcdef0',
        region: 'eu-west-1',
        groups: ['workers'],
        stateDir: '/srv/bootstrap',
        configPath: '/srv/cloudiq/bootstrap.ini',
        acceptNewHostKey: null,
      },
    );
  });

  it('defaults the address to the host name, and reads local paths relative to the inventory', () => {
    const inventory = parseInventory('[host:db-1]\nidentity = keys/id\nknown_hosts = /abs/kh\n', FILE);
    assert.equal(inventory.hosts[0]?.address, 'db-1');
    assert.equal(inventory.hosts[0]?.identity, '/etc/cloudiq/keys/id');
    assert.equal(inventory.hosts[0]?.knownHosts, '/abs/kh');
    assert.equal(parseInventory('[host:l]\ntransport = local\n', FILE).hosts[0]?.address, null);
    assert.deepEqual(parseInventory('', FILE).hosts, []);
  });

  it("refuses the file for what is not one host's: [defaults], groups, a [defaults] jump to no host", () => {
    configError('[defaults]\ncolour = blue\n[host:a]\n', 'defaults', 'colour');
    // a bad value inherited from [defaults] is reported where it is written
    configError('[defaults]\nport = 0\n[host:a]\n', 'defaults', 'port');
    configError('[defaults]\naddress = 10.0.0.1\n', 'defaults', 'address');
    configError('[defaults]\ninstance_id = i-0123456789abcdef0\n', 'defaults', 'instance_id');
    configError('[defaults]\njump = bastoin\n[host:a]\n[host:bastion]\n', 'defaults', 'jump');
    // A host's groups decide what a selector picks, as its name does.
    configError('[host:a]\ngroups = edge, Bad Group\n[host:b]\n', 'host:a', 'groups');
    configError('[host:a]\nport = 0\ngroups = Edge\n', 'host:a', 'groups');
    configError('[source:aws]\nkind = ec2\nssh_config = /x\n[host:a]\n', 'source:aws', 'ssh_config');
    configError('[source:aws]\nkind = gcp\n[host:a]\n', 'source:aws', 'kind');
  });

  it('refuses the file for a host key that may have been meant as groups, and names it', () => {
    // Kept with the host, `group = edge` would leave it out of group:edge without a word.
    for (const key of [
      'group',
      'Groups',
      'grups',
      'gruops',
      'groupes',
      'groups_from',
      'host_groups',
      'grp',
    ]) {
      const error = configError(`[host:a]\n${key} = edge\n[host:b]\ngroups = edge\n`, 'host:a', key);
      assert.match(error.message, /unknown key \(did you mean groups\?\)/, key);
    }
    // Beside a valid groups too: the host's groups are still in doubt.
    configError('[host:a]\ngroups = edge\ngroup = eu\n', 'host:a', 'group');
  });

  it('names the key probably meant for an unknown one, here and in [defaults] and [source:…]', () => {
    assert.equal(
      hostError('[host:a]\nadress = 10.0.0.1\n', 'a', 'adress').message,
      `${FILE}: [host:a] adress: unknown key (did you mean address?)`,
    );
    assert.match(
      hostError('[host:a]\nknownhosts = /k\n', 'a', 'knownhosts').message,
      /did you mean known_hosts\?/,
    );
    assert.match(
      hostError('[host:a]\ninstanceid = i-0123456789abcdef0\n', 'a', 'instanceid').message,
      /did you mean instance_id\?/,
    );
    // Nothing near: no guess.
    assert.equal(
      hostError('[host:a]\ncolour = blue\n', 'a', 'colour').message,
      `${FILE}: [host:a] colour: unknown key`,
    );
    assert.match(
      configError('[defaults]\nuesr = ops\n[host:a]\n', 'defaults', 'uesr').message,
      /did you mean user\?/,
    );
    assert.match(
      configError('[source:aws]\nkind = ec2\nfilter = tag:A=b\n[host:a]\n', 'source:aws', 'filter').message,
      /did you mean filters\?/,
    );
  });

  it("keeps what one host's section gets wrong with that host, worded as before", () => {
    assert.equal(
      hostError('[host:a]\nport = 70000\n', 'a', 'port').message,
      `${FILE}: [host:a] port: expected a port number (1-65535), got "70000"`,
    );
    hostError('[host:a]\ncolour = blue\n', 'a', 'colour');
    hostError('[host:a]\nport = twenty\n', 'a', 'port');
    hostError('[host:a]\ntransport = telnet\n', 'a', 'transport');
    hostError('[host:a]\ntransport = ssm\n', 'a', 'instance_id');
    hostError('[defaults]\ntransport = ssm\n[host:a]\n', 'a', 'instance_id');
    hostError('[host:a]\ntransport = ssm\ninstance_id = web-1\n', 'a', 'instance_id');
    hostError('[host:a]\nregion = Europe\n', 'a', 'region');
    hostError('[host:a]\nhost_key = 3mrfx\n', 'a', 'host_key');
    hostError('[host:a]\nstate_dir = var/bootstrap\n', 'a', 'state_dir');
    hostError('[host:a]\nconfig_path = ~/bootstrap.ini\n', 'a', 'config_path');
    hostError('[host:a]\naccept_new_host_key = maybe\n', 'a', 'accept_new_host_key');
    hostError('[host:a]\naddress = -oProxyCommand=touch\n', 'a', 'address');
    hostError('[host:a]\naddress = web$(reboot)\n', 'a', 'address');
    hostError('[host:a]\nuser = "bad user"\n', 'a', 'user');
    hostError('[host:a]\nidentity =\n', 'a', 'identity');
    hostError('[host:a]\nssh_config = /etc/ssh/other\n', 'a', 'ssh_config');
  });

  it('lists and selects a host kept with its error, with what could be read, beside sound ones', () => {
    const inventory = parseInventory(
      '[host:a]\ngroups = edge\n[host:b]\ntransport = telnet\ngroups = edge\n' +
        '[host:c]\nport = 0\ntransport = local\ngroups = edge, eu\n' +
        // Two bad keys: the transport is unknown whichever of them the error names.
        '[host:d]\nuser = "bad user"\nport = 0\ntransport = telnet\n',
      FILE,
    );
    const fleet = createInventoryFleet(inventory);
    assert.deepEqual(fleet.servers(), [
      { name: 'a', groups: ['edge'], transport: 'ssh' },
      { name: 'b', groups: ['edge'], transport: null },
      { name: 'c', groups: ['edge', 'eu'], transport: 'local' },
      { name: 'd', groups: [], transport: null },
    ]);
    assert.deepEqual(inventory.hosts.find((h) => h.name === 'd')?.unreadable?.sort(), [
      'port',
      'transport',
      'user',
    ]);
    assert.deepEqual(fleet.select('group:edge'), ['a', 'b', 'c']);
    assert.deepEqual(fleet.select('eu,b'), ['b', 'c']);
    assert.equal(fleet.target('a').name, 'a');
    assert.throws(() => fleet.target('b'), { code: 'CONFIG_ERROR' });
    assert.throws(() => fleet.target('c'), { code: 'CONFIG_ERROR' });
  });

  it("reads SPEC 3.1's example as written: web-2's elided pin and missing bastion are web-2's", () => {
    const inventory = parseInventory(SPEC_INVENTORY, FILE);
    const fleet = createInventoryFleet(inventory, { ssmClientFor: () => assert.fail('not sent') });
    assert.deepEqual(fleet.servers(), [
      { name: 'web-1', groups: ['edge', 'eu'], transport: 'ssh' },
      { name: 'web-2', groups: [], transport: 'ssh' },
      { name: 'worker-7', groups: ['workers'], transport: 'ssm' },
    ]);
    assert.deepEqual(fleet.select('group:edge'), ['web-1']);
    assert.deepEqual(fleet.select('all'), ['web-1', 'web-2', 'worker-7']);
    assert.equal(fleet.target('web-1').transport.kind, 'ssh');
    assert.equal(fleet.target('worker-7').transport.kind, 'ssm');
    assert.equal(
      hostError(SPEC_INVENTORY, 'web-2', 'host_key').message,
      `${FILE}: [host:web-2] host_key: expected SHA256:… fingerprint(s), got "SHA256:3mrfx…"`,
    );
    assert.throws(() => sshEndpointForHost(inventory, 'web-2'), { code: 'CONFIG_ERROR' });
  });

  it('keeps bad jumps with their host: to unknown hosts, to non-ssh hosts, and loops', () => {
    assert.match(
      hostError('[host:a]\njump = bastoin\n[host:bastion]\n', 'a', 'jump').message,
      /no \[host:bastoin\] in this inventory/,
    );
    hostError(
      '[host:a]\njump = w\n[host:w]\ntransport = ssm\ninstance_id = i-0123456789abcdef0\n',
      'a',
      'jump',
    );
    hostError('[host:a]\njump = b\n[host:b]\njump = a\n', 'a', 'jump');
    hostError('[host:a]\njump = b\n[host:b]\njump = a\n', 'b', 'jump');
    hostError('[host:a]\njump = a\n', 'a', 'jump');
    const outside = parseInventory('[host:a]\njump = ops@bastion.example.com:2200\n', FILE);
    assert.equal(outside.hosts[0]?.jump, 'ops@bastion.example.com:2200');
  });

  it('fails a host whose jump host is kept with an error, with that error', () => {
    const text = '[host:a]\njump = b\n[host:b]\njump = c\n[host:c]\nport = 0\n[host:d]\n';
    // c's own port; a and b go through c.
    for (const host of ['a', 'b', 'c']) hostError(text, host, 'port', 'host:c');
    const fleet = createInventoryFleet(parseInventory(text, FILE));
    assert.equal(fleet.target('d').name, 'd');
    assert.throws(() => sshEndpointForHost(parseInventory(text, FILE), 'a'), {
      code: 'CONFIG_ERROR',
      message: `${FILE}: [host:c] port: expected a port number (1-65535), got "0"`,
    });
  });

  it('refuses unknown sections, keys outside sections, bad and repeated host names', () => {
    configError('[hosts:a]\n', 'hosts:a', null);
    configError('address = 1.2.3.4\n[host:a]\n', null, 'address');
    configError('[host:a b]\n', 'host:a b', null);
    configError('[host:web-1.eu]\nport = 22\n[host:b]\n[host:web-1.eu]\nport = 23\n', 'host:web-1.eu', null);
    configError('[host:a]\nport = 22\n[host:b]\n[host:a]\nport = 23\n', 'host:a', null);
  });

  it('takes host names with dots (v2), whole, not as nested INI sections', () => {
    const inventory = parseInventory(
      '[host:web-1.example.com]\naddress = 10.0.0.1\ngroups = eu\n[host:web-2.eu]\n',
      FILE,
    );
    assert.deepEqual(
      inventory.hosts.map((host) => [host.name, host.address, host.groups]),
      [
        ['web-1.example.com', '10.0.0.1', ['eu']],
        ['web-2.eu', 'web-2.eu', []],
      ],
    );
    assert.deepEqual(
      selectHosts(inventory, 'web-2.eu,group:eu').map((host) => host.name),
      ['web-1.example.com', 'web-2.eu'],
    );
    // A jump to a dotted name outside the inventory is still a DNS name, not a missing host.
    const outside = parseInventory('[host:a]\njump = bastion.example.com\n', FILE);
    assert.equal(outside.hosts[0]?.jump, 'bastion.example.com');
  });

  it('loads a file, and reports a missing one as CONFIG_ERROR', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inventory-'));
    try {
      const file = join(dir, 'inventory.ini');
      await writeFile(file, '[host:a]\nidentity = id_ed25519\n');
      const inventory = await loadInventory(file);
      assert.equal(inventory.file, file);
      assert.equal(inventory.hosts[0]?.identity, join(dir, 'id_ed25519'));
      await assert.rejects(loadInventory(join(dir, 'missing.ini')), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'CONFIG_ERROR');
        assert.equal(error.details['file'], join(dir, 'missing.ini'));
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('selectors', () => {
  const inventory: Inventory = parseInventory(EXAMPLE, FILE);
  const names = (selector: string) => selectHosts(inventory, selector).map((host) => host.name);
  const code = (selector: string, inv: Inventory = inventory) => {
    try {
      selectHosts(inv, selector);
    } catch (error) {
      assert.ok(error instanceof BootstrapError);
      return error.code;
    }
    return 'none';
  };

  it('picks names, groups and all, in inventory order, each once', () => {
    assert.deepEqual(names('all'), ['web-1', 'web-2', 'bastion', 'worker-7']);
    assert.deepEqual(names('worker-7,web-1'), ['web-1', 'worker-7']);
    assert.deepEqual(names('group:edge'), ['web-1', 'web-2']);
    assert.deepEqual(names('web-2, group:edge ,group:workers,web-2'), ['web-1', 'web-2', 'worker-7']);
  });

  it('refuses unknown names and groups (UNKNOWN_SERVER) and empty selections (INVALID_REQUEST)', () => {
    assert.equal(code('web-3'), 'UNKNOWN_SERVER');
    assert.equal(code('web-1,web-3'), 'UNKNOWN_SERVER');
    assert.equal(code('group:nowhere'), 'UNKNOWN_SERVER');
    assert.equal(code('WEB-1'), 'UNKNOWN_SERVER');
    assert.equal(code(''), 'INVALID_REQUEST');
    assert.equal(code('web-1,,web-2'), 'INVALID_REQUEST');
    assert.equal(code('all', parseInventory('', FILE)), 'INVALID_REQUEST');
  });

  it('takes a bare group name where no host bears it; a host name always picks its host', () => {
    assert.deepEqual(names('edge'), ['web-1', 'web-2']);
    assert.deepEqual(names('workers,web-1'), ['web-1', 'worker-7']);
    assert.equal(code('nowhere'), 'UNKNOWN_SERVER');
    const clash = parseInventory(
      `[host:edge]\ntransport = local\n\n[host:web-1]\ntransport = local\ngroups = edge\n`,
      FILE,
    );
    // SPEC 3.1: a host name picks that host; the group is then only reached as group:NAME.
    assert.deepEqual(
      selectHosts(clash, 'edge').map((host) => host.name),
      ['edge'],
    );
    assert.deepEqual(
      selectHosts(clash, 'group:edge').map((host) => host.name),
      ['web-1'],
    );
  });
});

describe('inventory hosts as SSH endpoints', () => {
  const inventory = parseInventory(EXAMPLE, FILE);
  const home = homedir();

  it('goes through a jump host of the inventory with its own settings', () => {
    assert.deepEqual(sshEndpointForHost(inventory, 'web-2'), {
      host: '10.0.1.12',
      port: 22,
      user: 'cloudiq',
      identity: `${home}/.ssh/cloudiq_ed25519`,
      hostKey: [PIN],
      jump: {
        host: 'bastion.example.com',
        port: 2222,
        user: 'jump',
        identity: `${home}/.ssh/cloudiq_ed25519`,
        knownHosts: `${home}/.ssh/known_hosts`,
        acceptNewHostKey: true,
      },
    });
  });

  it('refuses hosts that are not reached over ssh', () => {
    assert.throws(() => sshEndpointForHost(inventory, 'worker-7'), { code: 'INVALID_REQUEST' });
    assert.throws(() => sshEndpointForHost(inventory, 'nobody'), { code: 'UNKNOWN_SERVER' });
  });
});
