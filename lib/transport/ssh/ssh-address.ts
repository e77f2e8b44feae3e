/**
 * What a caller says about one SSH host, and the `[USER@]HOST[:PORT]` syntax that names it: the
 * words both the ssh config reader and the endpoint resolver use, kept apart so neither imports
 * the other.
 */
import { BootstrapError } from '../../errors.ts';
import type { KeySource } from './auth.ts';

export interface SshEndpoint extends KeySource {
  /** Address or DNS name to connect to (and to look up in known_hosts). */
  host: string;
  /** 22 by default. */
  port?: number;
  /** The login; this process's user by default, as with OpenSSH. */
  user?: string;
  /** OpenSSH known_hosts file; `~/.ssh/known_hosts` by default (unused when `hostKey` is given). */
  knownHosts?: string;
  /** Pinned host key fingerprint(s), `SHA256:…`, instead of known_hosts. */
  hostKey?: string | readonly string[];
  /** Record an unknown host's key in known_hosts first (OpenSSH `accept-new`). */
  acceptNewHostKey?: boolean;
  /** The host to go through (its own key verified too); null: none, whatever the ssh config says. */
  jump?: SshEndpoint | null;
  /** An OpenSSH client config read instead of `~/.ssh/config` and `/etc/ssh/ssh_config` (`ssh -F`); false: none. */
  sshConfig?: string | false;
  /** Key and known_hosts used when neither this endpoint nor the ssh config names any (a `--jump` hop sharing its target's). */
  inherit?: Pick<SshEndpoint, 'identity' | 'privateKey' | 'knownHosts'>;
  /**
   * What the hops of the ssh config's `ProxyJump` for this endpoint (and theirs) take from it, as
   * a `--jump` hop does: their `inherit`, and accept-new.
   */
  hops?: Pick<SshEndpoint, 'identity' | 'privateKey' | 'knownHosts' | 'acceptNewHostKey'>;
}

/**
 * Reads `[USER@]HOST[:PORT]` (IPv6 as `[addr]:port`), or the same as an `ssh://` URI, as `ssh`,
 * `ssh -J` and `ProxyJump` take it: `--host`, `--jump`, an inventory's `jump` and the config's hops.
 */
export function parseSshAddress(text: string): { host: string; port?: number; user?: string } {
  const address = text.trim().replace(/^ssh:\/\//, '');
  // A user never holds `/`: `sftp://u@h` is a mistake, not the user "sftp://u".
  const match = /^(?:([^@\s/]+)@)?(?:\[([0-9A-Fa-f:.]+)\]|([^:@\s[\]/]+))(?::([0-9]{1,5}))?$/.exec(address);
  if (!match) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      `invalid ssh address ${JSON.stringify(text)} (expected [USER@]HOST[:PORT] or ssh://[USER@]HOST[:PORT])`,
      {
        address: text,
      },
    );
  }
  const [, user, v6, name, port] = match;
  const out: { host: string; port?: number; user?: string } = { host: (v6 ?? name)! };
  if (user !== undefined) out.user = user;
  if (port !== undefined) out.port = Number(port);
  return out;
}
