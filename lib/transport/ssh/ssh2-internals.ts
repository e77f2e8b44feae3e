/**
 * The parts of an ssh2 client that are not its public API and that this transport relies on, all
 * named here, so that an ssh2 upgrade has one file to check (ssh2 1.17). Each is optional: a
 * client without it is left to ssh2's own behaviour by whoever asked (sign-first.ts,
 * host-key-proof.ts, pipelined-auth.ts, connect.ts `speculateFirstExec`), and the tests that
 * count round trips and host requests would show what was lost.
 */
import type { Client as Ssh2Client } from 'ssh2';

/** A handler ssh2's protocol calls for an incoming message: the protocol, then the message's fields. */
export type MessageHandler = (protocol: unknown, ...fields: unknown[]) => void;

/** ssh2's `Protocol` (lib/protocol/Protocol.js): the writer of outgoing messages and its handlers. */
export interface Ssh2Protocol {
  /** USERAUTH_REQUEST for a public key: a query without `cbSign`, signed with it. */
  authPK?: (username: string, pubKey: unknown, keyAlgo?: unknown, cbSign?: unknown) => void;
  /** SERVICE_REQUEST. */
  service?: (name: string) => void;
  /** REQUEST_SUCCESS, the reply to a global request. */
  requestSuccess?: () => void;
  /** What the client does with each incoming message, by message name. */
  _handlers?: Partial<Record<'GLOBAL_REQUEST' | 'SERVICE_ACCEPT' | 'EXT_INFO', MessageHandler>>;
}

/** The client's protocol, once `connect()` made it. */
export function protocolOf(client: Ssh2Client): Ssh2Protocol | undefined {
  return (client as unknown as { _protocol?: Ssh2Protocol })._protocol;
}

/** The server's software version from its banner (`OpenSSH_9.2p1 …`), once the banner was read. */
export function serverSoftware(client: Ssh2Client): string | undefined {
  const version = (client as unknown as { _remoteVer?: unknown })._remoteVer;
  return typeof version === 'string' ? version : undefined;
}
