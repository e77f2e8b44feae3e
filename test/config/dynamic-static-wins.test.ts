/**
 * SPEC 3.1 (v2): "a static host wins over a dynamic one of the same name" and "targets keep
 * inventory order, each once", against the loopback EC2 through the real EC2Client. A static
 * host is the same host as an instance a source lists when it names that instance
 * (`instance_id`), whatever the instance's Name tag says; and a name a static host has stays the
 * static host's however many listed instances carry it: those instances are left out, as the
 * one instance of that name is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expandInventory, type SourceClients } from '../../lib/config/dynamic-inventory.ts';
import { type Inventory, parseInventory, selectHosts } from '../../lib/config/inventory.ts';
import { createTestEc2Client, type Ec2TestServer, startEc2Server } from '../support/ec2-server.ts';

const FILE = '/etc/cloudiq/inventory.ini';
const id = (n: number) => `i-0${String(n).padStart(16, 'a')}`;
const SOURCE = '[source:aws]\nkind = ec2\nfilters = tag:Fleet=cloudiq\n';

describe('dynamic inventory: a static host wins', () => {
  let ec2: Ec2TestServer;
  let clients: SourceClients;

  before(async () => {
    ec2 = await startEc2Server();
    const client = createTestEc2Client(ec2);
    clients = {
      ec2For: () => client,
      ssmFor: () => {
        throw new Error('no SSM source here');
      },
    };
  });
  after(() => ec2.close());

  const running = (n: number, name: string, extra: Record<string, string> = {}) => ({
    instanceId: id(n),
    state: 'running' as const,
    privateIp: `10.0.0.${n}`,
    tags: { Name: name, Fleet: 'cloudiq', ...extra },
  });
  const expand = (text: string) => expandInventory(parseInventory(text, FILE), clients);
  const shown = (inventory: Inventory) =>
    inventory.hosts.map((host) => `${host.name}=${host.instanceId ?? host.address}`);
  const all = (inventory: Inventory) => selectHosts(inventory, 'all').map((host) => host.name);

  it('an instance a static host names by instance_id is that host, not a second target', async () => {
    ec2.instances = [running(7, 'worker-7.aws'), running(8, 'worker-8')];
    const inventory = await expand(
      `[host:worker-7]\ntransport = ssm\ninstance_id = ${id(7)}\ngroups = workers\n\n${SOURCE}`,
    );
    assert.deepEqual(shown(inventory), [`worker-7=${id(7)}`, `worker-8=${id(8)}`]);
    assert.deepEqual(all(inventory), ['worker-7', 'worker-8']);
    // The static entry is the one kept, with its own settings.
    assert.deepEqual(inventory.hosts[0]!.groups, ['workers']);
    assert.equal(inventory.hosts[0]!.tags, undefined);
  });

  it('a Name tag that is another instance’s id gives way to its own id: that id names that instance', async () => {
    // Instance 5 is tagged with instance 6's id; instance 6 is tagged "six"; a static host has instance 9.
    ec2.instances = [running(5, id(6)), running(6, 'six'), running(4, id(9))];
    const inventory = await expand(`[host:nine]\ntransport = ssm\ninstance_id = ${id(9)}\n\n${SOURCE}`);
    assert.deepEqual(shown(inventory), [
      `nine=${id(9)}`,
      `${id(5)}=${id(5)}`,
      `six=${id(6)}`,
      `${id(4)}=${id(4)}`,
    ]);
    // Instance 6 is named "six": its id names no host (it used to name instance 5).
    assert.throws(() => selectHosts(inventory, id(6)), { code: 'UNKNOWN_SERVER' });
  });

  it('the static host wins by instance id even when a second source lists the instance too', async () => {
    ec2.instances = [running(7, 'worker-7.aws')];
    const inventory = await expand(
      `[host:worker-7]\ntransport = ssm\ninstance_id = ${id(7)}\n\n${SOURCE}\n[source:again]\nkind = ec2\nname = instance_id\n`,
    );
    assert.deepEqual(shown(inventory), [`worker-7=${id(7)}`]);
  });

  it('a static name is the static host’s whether one or several instances carry it', async () => {
    const text = `[host:web-1]\naddress = 10.0.1.11\n\n${SOURCE}`;
    ec2.instances = [running(1, 'web-1'), running(3, 'web-3')];
    const one = await expand(text);
    assert.deepEqual(shown(one), ['web-1=10.0.1.11', `web-3=${id(3)}`]);
    ec2.instances = [running(1, 'web-1'), running(2, 'web-1'), running(3, 'web-3')];
    const two = await expand(text);
    // The same answer as with one: neither instance named web-1 becomes a target of its own.
    assert.deepEqual(shown(two), ['web-1=10.0.1.11', `web-3=${id(3)}`]);
    assert.deepEqual(all(two), ['web-1', 'web-3']);
  });

  it('dynamic twins of a name no static host has are still named by their instance ids', async () => {
    ec2.instances = [running(1, 'web-1'), running(4, 'twin'), running(5, 'twin')];
    const inventory = await expand(`[host:web-1]\naddress = 10.0.1.11\n\n${SOURCE}`);
    assert.deepEqual(shown(inventory), ['web-1=10.0.1.11', `${id(4)}=${id(4)}`, `${id(5)}=${id(5)}`]);
  });

  it('a static host named like an instance id wins over that instance too', async () => {
    ec2.instances = [running(4, 'twin'), running(5, 'twin')];
    const inventory = await expand(`[host:${id(4)}]\naddress = 10.0.1.44\n\n${SOURCE}`);
    assert.deepEqual(shown(inventory), [`${id(4)}=10.0.1.44`, `${id(5)}=${id(5)}`]);
  });

  it('every target once: no two hosts share a name or an instance', async () => {
    ec2.instances = [
      running(1, 'web-1'),
      running(2, 'web-1'),
      // Its Name tag is the instance id that instance 9 is named by (9 and 10 are twins).
      running(6, id(9)),
      running(7, 'worker-7.aws'),
      running(9, 'other'),
      running(10, 'other'),
    ];
    const inventory = await expand(
      `[host:web-1]\naddress = 10.0.1.11\n\n[host:worker-7]\ntransport = ssm\ninstance_id = ${id(7)}\n\n${SOURCE}`,
    );
    const names = inventory.hosts.map((host) => host.name);
    assert.equal(new Set(names).size, names.length, names.join(' '));
    const ids = inventory.hosts.flatMap((host) => (host.instanceId === null ? [] : [host.instanceId]));
    assert.equal(new Set(ids).size, ids.length, ids.join(' '));
    assert.deepEqual(all(inventory), names);
    assert.deepEqual(names, ['web-1', 'worker-7', id(6), id(9), id(10)]);
  });
});
