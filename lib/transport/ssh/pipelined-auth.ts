/**
 * Login one round trip sooner: the first user-auth request travels with the service request.
 *
 * After the key exchange ssh2, like OpenSSH's client, asks for the `ssh-userauth` service and waits
 * for the server's SERVICE_ACCEPT before it sends its first USERAUTH_REQUEST: a round trip in which
 * nothing else happens. A server reads packets in order, and sshd (`input_service_request`) and
 * dropbear install their USERAUTH_REQUEST handler when they accept the service, before they read the
 * next packet: a request that follows the service request in the same flight is read as if it had
 * waited for the accept.
 *
 * What the request does depend on is the server's `server-sig-algs` (RFC 8308 EXT_INFO): it tells
 * ssh2 which signature an RSA key may make, and without it ssh2 signs `ssh-rsa` (SHA-1), which
 * current servers refuse. A server that sends EXT_INFO sends it right after its NEWKEYS (RFC 8308
 * §2.4), in the same flight as the key exchange's end. So auth starts early only once both the
 * service request is sent and EXT_INFO is read; a server that sends no EXT_INFO gets ssh2's own
 * order, auth on SERVICE_ACCEPT. Whichever comes first starts auth, once; the other is let go.
 *
 * ssh2 has no option for this; it goes through its protocol's `service` call and its
 * SERVICE_ACCEPT and EXT_INFO handlers, and everything after stays ssh2's. A client whose protocol
 * is not as expected (another ssh2 version) keeps ssh2's order.
 */
import type { Client as Ssh2Client } from 'ssh2';
import { protocolOf } from './ssh2-internals.ts';

const USERAUTH = 'ssh-userauth';

/** Makes `client` (after `connect()`) send its first auth request without waiting for SERVICE_ACCEPT. */
export function pipelineAuth(client: Ssh2Client): void {
  const protocol = protocolOf(client);
  const handlers = protocol?._handlers;
  const accept = handlers?.SERVICE_ACCEPT;
  const extInfo = handlers?.EXT_INFO;
  const service = protocol?.service;
  if (!protocol || !handlers || typeof accept !== 'function' || typeof extInfo !== 'function') return;
  if (typeof service !== 'function') return;
  let requested = false;
  let extended = false;
  let started = false;
  const start = (p: unknown) => {
    if (started) return;
    started = true;
    accept(p, USERAUTH);
  };
  protocol.service = function (this: unknown, name: string) {
    service.call(this, name);
    if (name !== USERAUTH) return;
    requested = true;
    if (extended) start(protocol);
  };
  handlers.EXT_INFO = (p, ...rest) => {
    extInfo(p, ...rest);
    extended = true;
    if (requested) start(p);
  };
  handlers.SERVICE_ACCEPT = (p, name, ...rest) => {
    if (name !== USERAUTH) return accept(p, name, ...rest);
    start(p);
  };
}
