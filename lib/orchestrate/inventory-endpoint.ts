/**
 * From an inventory host (SPEC 3.1) to the SSH endpoint that reaches it: address, port, user,
 * key and trust, and the jump — another host of the inventory, reached with its own settings
 * (a jump host whose section is malformed fails the target with its CONFIG_ERROR), or a
 * `[USER@]HOST[:PORT]` that shares the target's key and trust (as `--jump` does) where the
 * ssh config names none for it. What the inventory leaves out, the ssh config completes.
 */
import { hostConfigError, type Inventory, type InventoryHost } from '../config/inventory.ts';
import { BootstrapError } from '../errors.ts';
import type { SshEndpoint } from '../transport/ssh/index.ts';
// From its own module: the transport's index would load ssh2 with it.
import { parseSshAddress } from '../transport/ssh/ssh-address.ts';

/** The SSH endpoint of an inventory host whose transport is ssh. */
export function sshEndpointForHost(
  inventory: Inventory,
  host: InventoryHost | string,
  depth = 0,
): SshEndpoint {
  const entry =
    typeof host === 'string' ? inventory.hosts.find((candidate) => candidate.name === host) : host;
  if (!entry) {
    throw new BootstrapError('UNKNOWN_SERVER', `unknown server ${JSON.stringify(host)}`, { server: host });
  }
  // A host whose section is malformed is reached by no one: neither as a target nor as a jump.
  const kept = hostConfigError(entry);
  if (kept) throw kept;
  if (entry.transport !== 'ssh' || entry.address === null) {
    throw new BootstrapError('INVALID_REQUEST', `${entry.name} is not reached over ssh`, {
      server: entry.name,
      transport: entry.transport,
    });
  }
  if (depth > 8)
    throw new BootstrapError('CONFIG_ERROR', `${entry.name}: too many jump hosts`, { file: inventory.file });
  const trust: Omit<SshEndpoint, 'host'> = {};
  if (entry.identity !== null) trust.identity = entry.identity;
  if (entry.hostKey.length > 0) trust.hostKey = entry.hostKey;
  else if (entry.knownHosts !== null) trust.knownHosts = entry.knownHosts;
  if (entry.acceptNewHostKey !== null) trust.acceptNewHostKey = entry.acceptNewHostKey;
  const endpoint: SshEndpoint = { host: entry.address, ...trust };
  // Keys the inventory leaves out are the ssh config's (SPEC 3.2 v2), as for `ssh ADDRESS`.
  if (entry.port !== null) endpoint.port = entry.port;
  if (inventory.sshConfig !== undefined) endpoint.sshConfig = inventory.sshConfig;
  if (entry.user !== null) endpoint.user = entry.user;
  if (entry.jump !== null) {
    const named = inventory.hosts.find((candidate) => candidate.name === entry.jump);
    if (named) {
      endpoint.jump = sshEndpointForHost(inventory, named, depth + 1);
    } else {
      // A pinned key is the target's own: the outside hop is checked against known_hosts. Its
      // key and known_hosts are the target's unless the ssh config names the hop's own.
      const hop: SshEndpoint = { ...parseSshAddress(entry.jump) };
      const inherit: NonNullable<SshEndpoint['inherit']> = {};
      if (entry.identity !== null) inherit.identity = entry.identity;
      if (entry.knownHosts !== null) inherit.knownHosts = entry.knownHosts;
      if (Object.keys(inherit).length > 0) hop.inherit = inherit;
      if (entry.acceptNewHostKey !== null) hop.acceptNewHostKey = entry.acceptNewHostKey;
      if (inventory.sshConfig !== undefined) hop.sshConfig = inventory.sshConfig;
      endpoint.jump = hop;
    }
  }
  return endpoint;
}
