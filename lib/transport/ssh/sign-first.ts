/**
 * Public-key authentication in one round trip for the keys we hold ourselves.
 *
 * ssh2, like OpenSSH's client, first asks whether a key would be accepted (a request without a
 * signature), and signs only after the server's `PK_OK`: one round trip and one authorized_keys
 * lookup on the host more than needed. RFC 4252 §7 lets a client send the signed request at
 * once; sshd then checks the key and the signature together. We do that for a key held in this
 * process (an identity file, a key handed in as text), whose signature costs a few microseconds
 * and asks nobody. A key that lives in an ssh-agent is still asked about first: signing with it
 * unasked could prompt (`ssh-add -c`) for a key the host would refuse anyway.
 *
 * ssh2 has no option for this; the request goes through its own protocol writer (`authPK` with
 * a signing callback, the call it makes itself after `PK_OK`), wrapped for the keys we hold, and
 * everything after (success, failure and the next key or algorithm) stays ssh2's. A client whose
 * writer is not as expected (another ssh2 version) keeps ssh2's two steps.
 */
import type { Client as Ssh2Client } from 'ssh2';
import { protocolOf } from './ssh2-internals.ts';

type SignCallback = (signature: Buffer) => void;

/** What sign-first needs of the agent (auth.ts's KeySetAgent). */
export interface OwnKeySigner {
  /** Whether the key is held in this process (not by an ssh-agent). */
  holds(pubKey: unknown): boolean;
  /** Signs with a key held in this process. */
  signOwn(pubKey: unknown, data: Buffer, hash: string | undefined): Buffer | Error;
  /** One key, held in this process, and no ssh-agent. */
  readonly soleOwnKey: boolean;
}

/** The hash a key algorithm signs with; undefined for the key's own (ed25519, ecdsa). */
function hashOf(keyAlgo: string): string | undefined | null {
  if (keyAlgo === 'rsa-sha2-256') return 'sha256';
  if (keyAlgo === 'rsa-sha2-512') return 'sha512';
  // `ssh-rsa` (SHA-1) is refused by the agent: ssh2's own path reports that.
  if (keyAlgo === 'ssh-rsa') return null;
  return undefined;
}

/**
 * Makes `client` (after `connect()`) send signed requests at once for keys `signer` holds;
 * `onSent` is called right after each such request is written.
 */
export function signFirst(client: Ssh2Client, signer: OwnKeySigner, onSent?: () => void): void {
  const protocol = protocolOf(client);
  const authPK = protocol?.authPK;
  if (!protocol || typeof authPK !== 'function') return;
  protocol.authPK = function (this: unknown, username, pubKey, keyAlgo, cbSign) {
    const probe = cbSign === undefined && (keyAlgo === undefined || typeof keyAlgo === 'string');
    const algo = typeof keyAlgo === 'string' ? keyAlgo : keyTypeOf(pubKey);
    const hash = algo === undefined ? null : hashOf(algo);
    if (!probe || hash === null || !signer.holds(pubKey)) {
      authPK.call(this, username, pubKey, keyAlgo, cbSign);
      return;
    }
    authPK.call(this, username, pubKey, keyAlgo, (data: Buffer, send: SignCallback) => {
      const signature = signer.signOwn(pubKey, data, hash);
      if (signature instanceof Buffer) {
        send(signature);
        onSent?.();
      }
      // Cannot sign after all: ask first, as ssh2 would have (its PK_OK path reports the error).
      else authPK.call(this, username, pubKey, keyAlgo);
    });
  };
}

function keyTypeOf(pubKey: unknown): string | undefined {
  const type = (pubKey as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}
