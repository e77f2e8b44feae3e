import type { SSMClient } from '@aws-sdk/client-ssm';
import { DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR } from '../config/bootstrap-config.ts';
import {
  hostConfigError,
  type Inventory,
  type InventoryHost,
  listedTransport,
  selectHosts,
} from '../config/inventory.ts';
import { BootstrapError } from '../errors.ts';
import type { Fleet } from '../fleet/fleet.ts';
import type { HostTarget } from '../operations/types.ts';
import { present } from '../optional.ts';
import { wantFleetBacklog } from '../transport/backlog.ts';
import { createLocalTransport } from '../transport/local.ts';
import type { SshEndpoint, SshPool } from '../transport/ssh/index.ts';
import type { Transport, TransportKind } from '../transport/types.ts';
import { sshEndpointForHost } from './inventory-endpoint.ts';

export interface InventoryFleetDeps {
  ssh?: {
    /** Shared across the fleet: one connection per host. Created (and closed) here when absent. */
    pool?: SshPool;
    /** A private key as text (Lambda: from Secrets Manager), used for every ssh host. */
    privateKey?: string;
    /** A known_hosts file used for hosts whose inventory entry names none. */
    knownHosts?: string;
    /** Overrides the inventory: record unknown host keys first (`--accept-new-host-key`). */
    acceptNewHostKey?: boolean;
  };
  /**
   * The SSM client for a region (null: the SDK chain's default). Give the same client for the
   * same region: SendCommand batching is per client.
   */
  ssmClientFor?: (region: string | null) => SSMClient;
  /** The shell of `transport = local` hosts. */
  localShell?: string;
  /**
   * Keep each host's connection when a run is done with it (`release`), for the requests that
   * follow: a long-lived process (`serve`). A one-shot run (the CLI, a Lambda step) lets each
   * host's connection close as soon as that host is done, so that the hosts' sessions end
   * along the run rather than all at its end.
   */
  keepConnections?: boolean;
}

/**
 * The fleet an inventory describes (SPEC 3.1): every host with its transport, created when first
 * used and kept, so that one SSH connection and one SSM batcher serve every operation.
 */
export function createInventoryFleet(inventory: Inventory, deps: InventoryFleetDeps = {}): Fleet {
  // The SSH transport and ssh2 load only when an SSH host is first used (a cold start, an
  // SSM-only fleet: never); the pool with them.
  let pool: Promise<SshPool> | undefined;
  const sshModule = () => import('../transport/ssh/index.ts');
  const poolFor = () => {
    const given = deps.ssh?.pool;
    pool ??= given ? Promise.resolve(given) : sshModule().then(({ SshPool }) => new SshPool());
    return pool;
  };
  const transports = new Map<string, Transport>();
  // SSM's batcher reads a run's backlog; its transports are made when first used, inside a run.
  if (inventory.hosts.some((h) => h.transport === 'ssm')) wantFleetBacklog();

  const find = (name: string): InventoryHost => {
    const host = inventory.hosts.find((h) => h.name === name);
    if (!host)
      throw new BootstrapError('UNKNOWN_SERVER', `unknown server ${JSON.stringify(name)}`, {
        server: name,
        inventory: inventory.file,
      });
    return host;
  };

  const transportFor = (host: InventoryHost): Transport => {
    switch (host.transport) {
      case 'local':
        return createLocalTransport({
          target: host.name,
          ...present({ shell: deps.localShell }),
        });
      case 'ssm': {
        if (host.instanceId === null) {
          throw new BootstrapError(
            'CONFIG_ERROR',
            `${inventory.file}: [host:${host.name}] instance_id: required for transport = ssm`,
            {
              file: inventory.file,
              section: `host:${host.name}`,
              key: 'instance_id',
            },
          );
        }
        const clientFor = deps.ssmClientFor;
        if (!clientFor) {
          throw new BootstrapError('INTERNAL', `${host.name}: no SSM client configured`, {
            server: host.name,
          });
        }
        const { instanceId, region, name } = host;
        return lazyTransport('ssm', name, async () =>
          (await import('../transport/ssm/index.ts')).createSsmTransport({
            client: clientFor(region),
            instanceId,
            target: name,
            ...(region === null ? {} : { region }),
          }),
        );
      }
      default: {
        const endpoint: SshEndpoint = sshEndpointForHost(inventory, host);
        if (deps.ssh?.privateKey !== undefined && host.identity === null)
          endpoint.privateKey = deps.ssh.privateKey;
        if (deps.ssh?.knownHosts !== undefined && host.knownHosts === null && host.hostKey.length === 0)
          endpoint.knownHosts = deps.ssh.knownHosts;
        if (deps.ssh?.acceptNewHostKey) endpoint.acceptNewHostKey = true;
        const lent = deps.ssh;
        return lazyTransport('ssh', host.name, async () => {
          const { createSshTransport } = await sshModule();
          // The jump hosts get what is lent too, as `--jump` gets the flags' (SPEC 3.2).
          const reached = lent ? lendToJumps(endpoint, lent) : endpoint;
          return createSshTransport({ ...reached, target: host.name, pool: await poolFor() });
        });
      }
    }
  };

  return {
    servers: () =>
      inventory.hosts.map((h) => ({ name: h.name, groups: h.groups, transport: listedTransport(h) })),
    select: (selector) => selectHosts(inventory, selector).map((h) => h.name),
    target(name): HostTarget {
      const host = find(name);
      // A host whose own section is malformed is listed and selected, and fails here, unreached,
      // with its CONFIG_ERROR: the CLI, `serve` and the functions all take their targets here.
      const kept = hostConfigError(host);
      if (kept) throw kept;
      let transport = transports.get(name);
      if (!transport) {
        transport = transportFor(host);
        transports.set(name, transport);
      }
      return {
        name,
        transport,
        configPath: host.configPath ?? DEFAULT_CONFIG_PATH,
        stateDir: host.stateDir ?? DEFAULT_STATE_DIR,
      };
    },
    release(name) {
      if (!deps.keepConnections) transports.get(name)?.release?.();
    },
    async close() {
      await Promise.allSettled([...transports.values()].map((t) => t.close()));
      transports.clear();
      if (pool && deps.ssh?.pool === undefined) await (await pool).close();
    },
  };
}

/**
 * `endpoint` with what the fleet lends (a key and known_hosts from Secrets Manager, accept-new)
 * passed on to its jump hosts — the inventory's, and the ssh config's `ProxyJump` hops (`hops`) —
 * as the CLI's `--jump` takes `--identity`, `--known-hosts` and `--accept-new-host-key`
 * (sshEndpointFromFlags): accept-new applies to every hop; the key and known_hosts only where
 * neither the inventory (the bastion's own entry, or the target's that a `[USER@]HOST` hop shares)
 * nor the ssh config names one for that hop (configureEndpoint decides the latter). Host keys are
 * verified all the same: only which file they are checked against, or recorded in, is lent.
 */
function lendToJumps(endpoint: SshEndpoint, lent: NonNullable<InventoryFleetDeps['ssh']>): SshEndpoint {
  const hops: NonNullable<SshEndpoint['hops']> = {
    ...present({ privateKey: lent.privateKey }),
    ...present({ knownHosts: lent.knownHosts }),
    ...(lent.acceptNewHostKey ? { acceptNewHostKey: true } : {}),
  };
  const lend = (hop: SshEndpoint): SshEndpoint => {
    const out: SshEndpoint = { ...hop, hops };
    const inherit = { ...hop.inherit };
    const ownKey =
      hop.identity !== undefined || hop.privateKey !== undefined || hop.inherit?.identity !== undefined;
    if (lent.privateKey !== undefined && !ownKey) inherit.privateKey = lent.privateKey;
    const pinned = hop.hostKey !== undefined && hop.hostKey.length > 0;
    const ownTrust = pinned || hop.knownHosts !== undefined || hop.inherit?.knownHosts !== undefined;
    if (lent.knownHosts !== undefined && !ownTrust) inherit.knownHosts = lent.knownHosts;
    if (Object.keys(inherit).length > 0) out.inherit = inherit;
    if (lent.acceptNewHostKey) out.acceptNewHostKey = true;
    if (hop.jump) out.jump = lend(hop.jump);
    return out;
  };
  return { ...endpoint, hops, ...(endpoint.jump ? { jump: lend(endpoint.jump) } : {}) };
}

/**
 * A transport made on first use: the SSM transport (and the AWS SDK behind it) is loaded only by
 * fleets that have SSM hosts, the SSH transport (and ssh2) only by those with SSH hosts, which
 * keeps a run, a heartbeat or a Lambda cold start from paying for what it does not use.
 */
function lazyTransport(kind: TransportKind, target: string, make: () => Promise<Transport>): Transport {
  let made: Promise<Transport> | undefined;
  return {
    kind,
    target,
    exec: async (request) => {
      made ??= make();
      return (await made).exec(request);
    },
    release: () => {
      void made?.then(
        (transport) => transport.release?.(),
        () => {},
      );
    },
    close: async () => {
      if (made) await (await made).close();
    },
  };
}
