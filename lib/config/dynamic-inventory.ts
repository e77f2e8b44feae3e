/**
 * The inventory with its dynamic hosts (SPEC 3.1 v2): each `[source:NAME]` listed once, before
 * any selection, and its instances added after the static hosts. A static host wins over a
 * dynamic one of the same name; an instance listed by two sources is added once; instances that
 * would share a name are named by their instance ids instead, so no selector is ambiguous. A
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

/** The inventory with every source's instances added (the same inventory when it has none). */
export async function expandInventory(inventory: Inventory, clients: SourceClients): Promise<Inventory> {
  const sources = inventory.sources ?? [];
  if (sources.length === 0) return inventory;
  const listed = await Promise.all(sources.map((source) => listSource(source, clients)));
  const candidates: Array<{ source: DynamicSource; instance: ListedInstance; name: string }> = [];
  const seen = new Set<string>();
  for (const [index, source] of sources.entries()) {
    for (const instance of listed[index]!) {
      if (seen.has(instance.instanceId)) continue;
      seen.add(instance.instanceId);
      candidates.push({ source, instance, name: hostName(source, instance) });
    }
  }
  const count = new Map<string, number>();
  for (const { name } of candidates) count.set(name, (count.get(name) ?? 0) + 1);
  const statics = new Set(inventory.hosts.map((host) => host.name));
  const dynamic: InventoryHost[] = [];
  for (const { source, instance, name: wanted } of candidates) {
    const name = (count.get(wanted) ?? 0) > 1 ? instance.instanceId : wanted;
    if (statics.has(name)) continue;
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
