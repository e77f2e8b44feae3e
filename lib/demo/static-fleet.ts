/**
 * A Fleet over a fixed list of host targets, with SPEC 3.1's selectors: what `serve` builds for
 * the demo fleet, and what tests build over sandbox hosts. Inventories from INI files get theirs
 * from lib/orchestrate (transports built per host from the inventory).
 */
import { pickHosts } from '../config/inventory.ts';
import { BootstrapError } from '../errors.ts';
import type { Fleet, ServerEntry } from '../fleet/fleet.ts';
import type { HostTarget } from '../operations/types.ts';
import { createLocalTransport } from '../transport/local.ts';
import { DEMO_ROOT, type DemoHost, ensureDemoFleet } from './demo-fleet.ts';

export interface StaticHost {
  groups: string[];
  target: HostTarget;
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
    select: (selector) => pickHosts(entries, selector, 'the fleet').map((host) => host.name),
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
