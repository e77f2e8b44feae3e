/**
 * Client keys, from an identity file, a private key handed in as text (what the Lambda side reads
 * from Secrets Manager) or the agent at `SSH_AUTH_SOCK`. All of them are presented to ssh2 as one
 * agent, which lets us refuse SHA-1 signatures: ssh2 falls back to `ssh-rsa` for RSA keys when a
 * server does not announce `rsa-sha2-*`, and `ssh-dss` has no other. Passwords are never used, and
 * the agent is never forwarded. Key material stays in memory and is never logged.
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { IdentityCallback, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2';
import ssh2 from 'ssh2';
import { chooseKeys } from './identities.ts';
import type { OwnKeySigner } from './sign-first.ts';

const { BaseAgent, OpenSSHAgent } = ssh2;

export interface KeySource {
  /** A private key file (OpenSSH or PEM format), used alone (with the agent only if it holds this key). */
  identity?: string;
  /** The ssh config's IdentityFiles, tried in order; missing files are skipped. */
  identityFiles?: readonly string[];
  /** Offer the agent's keys besides these files (false: `IdentitiesOnly yes`). */
  agentKeys?: boolean;
  /** A private key as text. */
  privateKey?: string;
  /** For an encrypted key. */
  passphrase?: string;
  /** An agent socket; `SSH_AUTH_SOCK` by default when no key is given, `false` for none. */
  agent?: string | false;
}

export { KeyLoadError } from './identities.ts';

type AgentKey = ParsedKey | Buffer | string;

/** The hash a key type signs with when the request names none (RFC 4253, 5656, 8709). */
const KEY_HASH: Readonly<Record<string, string | null>> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
};

const keyObjects = new WeakMap<ParsedKey, KeyObject | null>();

const SHA1_REFUSED = 'refusing a SHA-1 signature (ssh-rsa, ssh-dss)';

/**
 * Signs with a key held in this process. ssh2's `key.sign` hands OpenSSL the key's PEM text, which
 * OpenSSL 3 decodes again at every signature: most of an ed25519 login's signing cost (~0.4 ms of
 * client CPU per connection here). The key is decoded once per process instead, and the same
 * `crypto.sign` is called with it, so the signature is the one ssh2 would make. A key OpenSSL
 * will not load this way, or of a type not listed, keeps ssh2's own path.
 */
function signHeld(key: ParsedKey, data: Buffer, hash: string | undefined): Buffer | Error {
  let object = keyObjects.get(key);
  if (object === undefined) {
    const pem = key.getPrivatePEM();
    try {
      object = KEY_HASH[key.type] === undefined || !pem ? null : createPrivateKey(pem);
    } catch {
      object = null;
    }
    keyObjects.set(key, object);
  }
  const algo = hash ?? KEY_HASH[key.type] ?? null;
  // A request naming no hash gets the key type's own: SHA-1 for ssh-rsa and ssh-dss, refused as
  // when named.
  if (algo === 'sha1') return new Error(SHA1_REFUSED);
  if (object === null) return key.sign(data, hash);
  try {
    return cryptoSign(algo, data, object);
  } catch (error) {
    return error as Error;
  }
}

/** Every key of a source, offered in order: explicit keys first, then the agent's. */
class KeySetAgent extends BaseAgent<AgentKey> implements OwnKeySigner {
  readonly #keys: ParsedKey[];
  readonly #agent: InstanceType<typeof OpenSSHAgent> | undefined;
  readonly #allow: ((key: ParsedKey) => boolean) | undefined;

  constructor(keys: ParsedKey[], agentSocket: string | undefined, allow?: (key: ParsedKey) => boolean) {
    super();
    this.#keys = keys;
    this.#agent = agentSocket === undefined ? undefined : new OpenSSHAgent(agentSocket);
    this.#allow = allow;
  }

  getIdentities(cb: IdentityCallback<AgentKey>): void {
    const own: AgentKey[] = [...this.#keys];
    if (!this.#agent) {
      cb(undefined, own);
      return;
    }
    // An agent that is not running leaves us with the explicit keys, as OpenSSH does.
    const allow = this.#allow;
    this.#agent.getIdentities((err, keys) => {
      const offered = err || !keys ? [] : allow ? keys.filter((key) => allow(key as ParsedKey)) : keys;
      cb(undefined, [...own, ...offered]);
    });
  }

  holds(pubKey: unknown): boolean {
    return this.#own(pubKey) !== undefined;
  }

  /** One key, held here, and no ssh-agent: the first signed request is the whole login's fate. */
  get soleOwnKey(): boolean {
    return this.#keys.length === 1 && !this.#agent;
  }

  signOwn(pubKey: unknown, data: Buffer, hash: string | undefined): Buffer | Error {
    const own = this.#own(pubKey);
    if (!own) return new Error('unknown key');
    return signHeld(own, data, hash);
  }

  #own(pubKey: unknown): ParsedKey | undefined {
    return this.#keys.find((key) => key === pubKey || key.equals(pubKey as ParsedKey));
  }

  sign(
    pubKey: AgentKey,
    data: Buffer,
    options: SigningRequestOptions | SignCallback,
    cb?: SignCallback,
  ): void {
    const done = (typeof options === 'function' ? options : cb) as SignCallback;
    const hash = typeof options === 'object' ? (options as { hash?: string }).hash : undefined;
    const own = this.#own(pubKey);
    if (hash === 'sha1') {
      done(new Error(SHA1_REFUSED));
    } else if (own) {
      const signature = signHeld(own, data, hash);
      if (signature instanceof Error) done(signature);
      else done(undefined, signature);
    } else if (this.#agent) {
      this.#agent.sign(pubKey as ParsedKey, data, (hash ? { hash } : {}) as SigningRequestOptions, done);
    } else {
      done(new Error('unknown key'));
    }
  }
}

/**
 * Builds the agent ssh2 authenticates with (identities.ts decides which keys): our own keys first,
 * then the agent's that may be offered.
 */
export async function loadClientKeys(
  source: KeySource,
): Promise<InstanceType<typeof BaseAgent> & OwnKeySigner> {
  const choice = await chooseKeys(source);
  const allow = choice.agentKeys;
  return new KeySetAgent(
    choice.keys,
    choice.agentSocket,
    allow === 'all' ? undefined : (key) => allow.some((blob) => blob.equals(key.getPublicSSH())),
  );
}
