/**
 * No proof of the host's other keys.
 *
 * After login, sshd announces every host key it holds (`hostkeys-00@openssh.com`, an OpenSSH
 * extension described in its PROTOCOL file). ssh2's client answers each announcement by asking the host
 * to prove that it holds them (`hostkeys-prove-00@openssh.com`): the host signs the session with
 * every key it has (an RSA-3072 signature alone costs it a millisecond or two), the client checks
 * every signature, and ssh2 then emits `hostkeys` — an event we never listen to. OpenSSH's own
 * client asks only for `UpdateHostKeys`, to rewrite known_hosts; we never rewrite it from a
 * connection (a new host's key is recorded once, at first contact, under `accept-new`), so the
 * proof is a round trip and signatures on every connection for nothing.
 *
 * ssh2 has no option for this. The announcement reaches its client through the protocol's
 * `GLOBAL_REQUEST` handler; this wraps that handler so that the announcement is let go, as
 * OpenSSH's client lets it go without `UpdateHostKeys` (it asks no reply: `want_reply` is 0, and
 * one asked for is still granted). Every other global request stays ssh2's. A client whose
 * protocol is not as expected (another ssh2 version) keeps ssh2's behaviour.
 */
import type { Client as Ssh2Client } from 'ssh2';
import { protocolOf } from './ssh2-internals.ts';

const ANNOUNCEMENT = 'hostkeys-00@openssh.com';

/** Makes `client` (after `connect()`) let sshd's host-key announcement go unproved. */
export function skipHostKeyProof(client: Ssh2Client): void {
  const protocol = protocolOf(client);
  const handlers = protocol?._handlers;
  const handler = handlers?.GLOBAL_REQUEST;
  if (!handlers || typeof handler !== 'function' || typeof protocol?.requestSuccess !== 'function') return;
  handlers.GLOBAL_REQUEST = (p, name, wantReply, data) => {
    if (name !== ANNOUNCEMENT) return handler(p, name, wantReply, data);
    if (wantReply) protocol.requestSuccess?.();
  };
}
