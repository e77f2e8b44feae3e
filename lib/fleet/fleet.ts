import type { HostTarget } from '../operations/types.ts';
import type { TransportKind } from '../transport/types.ts';

/** One server as the API lists it (`GET /servers`). */
export interface ServerEntry {
  name: string;
  groups: string[];
  /** null: the inventory's `transport` for this host is malformed (the host fails as a target). */
  transport: TransportKind | null;
}

/**
 * The servers an orchestrator can reach: built once per process (CLI run, Lambda cold start,
 * `serve`) from an inventory and the transports' clients. Transports are created lazily and kept,
 * so one SSH connection per host serves every operation.
 */
export interface Fleet {
  servers(): ServerEntry[];
  /** SPEC 3.1 selector → server names in inventory order; unknown names are `UNKNOWN_SERVER`. */
  select(selector: string): string[];
  /** The host behind a name; `UNKNOWN_SERVER` when the inventory lacks it. */
  target(name: string): HostTarget;
  /**
   * A run is done with this host (runFleet, once its operation and health check are over): what
   * was kept open for it may close now, unless the fleet keeps connections for later requests.
   */
  release?(name: string): void;
  close(): Promise<void>;
}

/**
 * A fleet run's selection (SPEC 3.1), refused up front when it is one target whose inventory
 * section is malformed: nothing could run, so the request gets that host's CONFIG_ERROR (exit 6,
 * 424), as the same host named alone does. With more targets it is one failed target among
 * them (SPEC 4). The CLI, `POST /fleet/upgrade` and the batch-upgrade function select through it.
 */
export function selectTargets(fleet: Fleet, selector: string): string[] {
  const selected = fleet.select(selector);
  const [only] = selected;
  if (only !== undefined && selected.length === 1) {
    fleet.target(only);
    fleet.release?.(only);
  }
  return selected;
}

/** A fleet of one: how a single-server operation reuses the fleet path (one-target result, callback). */
export function singleHostFleet(host: HostTarget): Fleet {
  return {
    servers: () => [{ name: host.name, groups: [], transport: host.transport.kind }],
    select: () => [host.name],
    target: () => host,
    close: () => host.transport.close(),
  };
}
