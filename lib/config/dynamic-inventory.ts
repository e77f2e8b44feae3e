/**
 * The inventory with its dynamic hosts (SPEC 3.1 v2): each `[source:NAME]` listed once, before
 * any selection, and its instances added after the static hosts. A static host wins over a
 * dynamic one of the same name (however many instances carry it) and over the instance it names
 * by `instance_id`; an instance listed by two sources is added once; instances that would share
 * a name are named by their instance ids instead, so no selector is ambiguous. A
 * source that cannot be listed is a CONFIG_ERROR naming it: a run must not quietly miss hosts.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { BootstrapError } from '../errors.ts';
import type { DynamicSource } from './dynamic-sources.ts';
import { HOST_NAME_PATTERN, type Inventory, type InventoryHost, inventoryHost } from './inventory.ts';
import { NAME_PATTERN } from './names.ts';
import type { ListedInstance } from './sources/listed-instance.ts';

/** The AWS clients of a region (null: the SDK chain's region); built by a composition root. */
export interface SourceClients {
  ec2For(region: string | null): EC2Client;
  ssmFor(region: string | null): SSMClient;
}

/** Whether listing this inventory needs AWS clients at all. */
export function hasDynamicSources(inventory: Inventory): boolean {
  return (inventory.sources?.length ?? 0) > 0;
}

/**
 * The inventory with every source's instances added (the same inventory when it has none).
 *
 * Who gets a name, in this order, so that every target is there once (SPEC 3.1):
 * 1. static hosts, as written;
 * 2. an instance a static host names by `instance_id`, or one an earlier source listed, is left
 *    out: it is already a host, whatever its Name tag says;
 * 3. an instance whose name a static host has is left out — however many instances carry that
 *    name, so that the static host wins the same way over one instance or several;
 * 4. the names several listed instances share are given up for their instance ids;
 * 5. a name still taken (a Name tag that is another host's name or instance id) gives way to
 *    the instance's own id, and an instance whose id is itself taken is left out.
 */
export async function expandInventory(inventory: Inventory, clients: SourceClients): Promise<Inventory> {
  const sources = inventory.sources ?? [];
  if (sources.length === 0) return inventory;
  const listed = await Promise.all(sources.map((source) => listSource(source, clients)));
  const statics = new Set(inventory.hosts.map((host) => host.name));
  const seen = new Set(
    inventory.hosts.flatMap((host) => (host.instanceId === null ? [] : [host.instanceId])),
  );
  const candidates: Array<{ source: DynamicSource; instance: ListedInstance; name: string }> = [];
  for (const [index, source] of sources.entries()) {
    for (const instance of listed[index]!) {
      if (seen.has(instance.instanceId)) continue;
      seen.add(instance.instanceId);
      const name = hostName(source, instance);
      if (statics.has(name)) continue;
      candidates.push({ source, instance, name });
    }
  }
  const count = new Map<string, number>();
  for (const { name } of candidates) count.set(name, (count.get(name) ?? 0) + 1);
  for (const candidate of candidates) {
    if ((count.get(candidate.name) ?? 0) > 1) candidate.name = candidate.instance.instanceId;
  }
  // Instance ids used as names are claimed first; a Name tag that is any known instance's id
  // (`seen`: the static hosts' and every listed one's) gives way, whether or not that instance is
  // named by its id: a selector naming an instance id must never reach another instance.
  const taken = new Set(statics);
  for (const { name, instance } of candidates) if (name === instance.instanceId) taken.add(name);
  const dynamic: InventoryHost[] = [];
  for (const { source, instance, name: wanted } of candidates) {
    let name = wanted;
    if (name !== instance.instanceId) {
      if (taken.has(name) || seen.has(name)) name = instance.instanceId;
      if (taken.has(name)) continue;
      taken.add(name);
    } else if (statics.has(name)) continue;
    const host = toHost(source, instance, name);
    if (host) dynamic.push(host);
  }
  return { ...inventory, hosts: [...inventory.hosts, ...dynamic] };
}

async function listSource(source: DynamicSource, clients: SourceClients): Promise<ListedInstance[]> {
  try {
    if (source.kind === 'ec2') {
      const { listEc2Instances } = await import('./sources/ec2.ts');
      return await listEc2Instances(clients.ec2For(source.region), source.filters);
    }
    const { listSsmInstances } = await import('./sources/ssm.ts');
    return await listSsmInstances(clients.ssmFor(source.region), source.filters);
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    // The self-contained CLI bundle leaves the EC2 SDK out: it must be installed beside it.
    const missing =
      (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
        ? ' (npm install @aws-sdk/client-ec2)'
        : '';
    throw new BootstrapError(
      'CONFIG_ERROR',
      `${source.file}: [source:${source.name}] cannot be listed (${source.kind}${source.region ? ` in ${source.region}` : ''}): ${name}: ${(error as Error).message}${missing}`,
      { file: source.file, section: `source:${source.name}`, source: source.name, cause: name },
      { cause: error },
    );
  }
}

function hostName(source: DynamicSource, instance: ListedInstance): string {
  if (source.nameFrom === 'instance_id') return instance.instanceId;
  const tagged = instance.tags[source.nameFrom.tag]?.trim();
  return tagged !== undefined && HOST_NAME_PATTERN.test(tagged) ? tagged : instance.instanceId;
}

function toHost(source: DynamicSource, instance: ListedInstance, name: string): InventoryHost | null {
  const entries: Record<string, string> = { transport: source.transport, instance_id: instance.instanceId };
  if (source.region !== null) entries['region'] = source.region;
  if (source.transport === 'ssh') {
    const address =
      source.address === 'public_ip'
        ? instance.publicIp
        : source.address === 'private_dns'
          ? instance.privateDns
          : instance.privateIp;
    // An instance without the address asked for cannot be reached that way: it is left out.
    if (address === undefined) return null;
    entries['address'] = address;
  }
  if (source.groupsFrom !== null) {
    const groups = (instance.tags[source.groupsFrom] ?? '')
      .split(',')
      .map((group) => group.trim().toLowerCase())
      .filter((group) => NAME_PATTERN.test(group));
    entries['groups'] = groups.join(', ');
  }
  const host = inventoryHost(name, source.hostDefaults, entries, source.file, `source:${source.name}`);
  return { ...host, tags: { ...instance.tags } };
}
