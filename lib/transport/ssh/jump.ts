/**
 * Jump hosts: the connection to a host behind a bastion runs over a `direct-tcpip` channel of
 * the bastion's own connection (as OpenSSH's `ProxyJump`), so the bastion's key is verified
 * against its own trust before anything is forwarded, and the target's key is verified end to
 * end over the tunnel exactly as for a direct connection. One bastion connection carries the
 * tunnels to every host behind it.
 */
import type { SocketOpener } from './connect.ts';
import type { SshConnection } from './connection.ts';
import type { ResolvedEndpoint } from './endpoint.ts';

/** Opens the byte stream to `target` through `hop` (which connects first if it has to). */
export function openThroughHop(hop: SshConnection, target: ResolvedEndpoint): SocketOpener {
  return async (signal) => {
    hop.hold();
    try {
      return await hop.forwardOut(target.host, target.port, signal);
    } catch (error) {
      if (error && typeof error === 'object' && 'details' in error) {
        const details = (error as { details: Record<string, unknown> }).details;
        details['jump'] ??= hop.endpoint.label;
      }
      throw error;
    } finally {
      hop.release();
    }
  };
}
