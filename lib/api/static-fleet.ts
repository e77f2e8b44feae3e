/**
 * A Fleet over a fixed list of host targets, with SPEC 3.1's selectors: what `serve` builds for
 * the demo fleet, and what tests build over sandbox hosts. Inventories from INI files get theirs
 * from lib/orchestrate (transports built per host from the inventory).
 */
import { DEMO_ROOT, type DemoHost, ensureDemoFleet } from '../demo/demo-fleet.ts';
import { BootstrapError } from '../errors.ts';
import type { HostTarget } from '../operations/types.ts';
import type { Fleet, ServerEntry } from '../orchestrate/fleet.ts';
import { createLocalTransport } from '../transport/local.ts';

export interface StaticHost {
  groups: string[];
  target: HostTarget;
}

/**
 * SPEC 3.1 over a list of names and groups, as lib/config/inventory's `selectHosts` does over an
 * inventory: `all`, names and `group:NAME`s, comma-separated; inventory order, each once.
 */
export function selectNames(hosts: readonly { name: string; groups: readonly string[] }[], selector: string) {
  const items = selector.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new BootstrapError('INVALID_REQUEST', `invalid selector ${JSON.stringify(selector)}: empty item`, {
      selector,
    });
  }
  const wanted = new Set<string>();
  for (const item of items) {
    if (item === 'all') {
      for (const host of hosts) wanted.add(host.name);
    } else if (item.startsWith('group:')) {
      const group = item.slice('group:'.length);
      const members = hosts.filter((host) => host.groups.includes(group));
      if (members.length === 0) {
        throw new BootstrapError('UNKNOWN_SERVER', `no host in group ${JSON.stringify(group)}`, { group });
      }
      for (const host of members) wanted.add(host.name);
    } else if (hosts.some((host) => host.name === item)) {
      wanted.add(item);
    } else {
      throw new BootstrapError('UNKNOWN_SERVER', `no server ${JSON.stringify(item)} in the inventory`, {
        server: item,
      });
    }
  }
  return hosts.filter((host) => wanted.has(host.name)).map((host) => host.name);
}

/** A Fleet whose targets are given; `close()` closes their transports. */
export function createStaticFleet(hosts: readonly StaticHost[]): Fleet {
  const entries = hosts.map((host) => ({ name: host.target.name, groups: host.groups }));
  const byName = new Map(hosts.map((host) => [host.target.name, host]));
  return {
    servers: (): ServerEntry[] =>
      hosts.map((host) => ({
        name: host.target.name,
        groups: [...host.groups],
        transport: host.target.transport.kind,
      })),
    select: (selector) => selectNames(entries, selector),
    target(name) {
      const host = byName.get(name);
      if (!host) {
        throw new BootstrapError('UNKNOWN_SERVER', `no server ${JSON.stringify(name)} in the inventory`, {
          server: name,
        });
      }
      return host.target;
    },
    async close() {
      await Promise.all(hosts.map((host) => host.target.transport.close()));
    },
  };
}

/** The demo fleet of lib/demo (web-1, web-2, worker-1 under `root`) as a Fleet on local transports. */
export function createDemoFleet(root: string = DEMO_ROOT): { fleet: Fleet; hosts: DemoHost[]; root: string } {
  const hosts = ensureDemoFleet(root);
  const fleet = createStaticFleet(
    hosts.map((host) => ({
      groups: host.groups,
      target: {
        name: host.name,
        transport: createLocalTransport({ target: host.name }),
        configPath: host.configPath,
        stateDir: host.stateDir,
      },
    })),
  );
  return { fleet, hosts, root };
}
