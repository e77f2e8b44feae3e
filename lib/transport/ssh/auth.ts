/**
 * Client keys, from an identity file, a private key handed in as text (what the Lambda side
 * reads from Secrets Manager) or the agent at `SSH_AUTH_SOCK`. All of them are presented to
 * ssh2 as one agent, which lets us refuse SHA-1 `ssh-rsa` signatures: ssh2 falls back to them
 * for RSA keys when a server does not announce `rsa-sha2-*`. Passwords are never used, and the
 * agent is never forwarded. Key material stays in memory and is never logged.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { IdentityCallback, ParsedKey, SignCallback, SigningRequestOptions } from 'ssh2';
import ssh2 from 'ssh2';
import { ParsedFileCache } from './file-cache.ts';

const { BaseAgent, OpenSSHAgent, utils } = ssh2;

export interface KeySource {
  /** A private key file (OpenSSH or PEM format). */
  identity?: string;
  /** A private key as text. */
  privateKey?: string;
  /** For an encrypted key. */
  passphrase?: string;
  /** An agent socket; `SSH_AUTH_SOCK` by default when no key is given, `false` for none. */
  agent?: string | false;
}

/** Why no key could be loaded; the connection turns this into `AUTH_FAILED`. */
export class KeyLoadError extends Error {}

type AgentKey = ParsedKey | Buffer | string;

/** Every key of a source, offered in order: explicit keys first, then the agent's. */
class KeySetAgent extends BaseAgent<AgentKey> {
  readonly #keys: ParsedKey[];
  readonly #agent: InstanceType<typeof OpenSSHAgent> | undefined;

  constructor(keys: ParsedKey[], agentSocket: string | undefined) {
    super();
    this.#keys = keys;
    this.#agent = agentSocket === undefined ? undefined : new OpenSSHAgent(agentSocket);
  }

  getIdentities(cb: IdentityCallback<AgentKey>): void {
    const own: AgentKey[] = [...this.#keys];
    if (!this.#agent) {
      cb(undefined, own);
      return;
    }
    // An agent that is not running leaves us with the explicit keys, as OpenSSH does.
    this.#agent.getIdentities((err, keys) => cb(undefined, err || !keys ? own : [...own, ...keys]));
  }

  sign(
    pubKey: AgentKey,
    data: Buffer,
    options: SigningRequestOptions | SignCallback,
    cb?: SignCallback,
  ): void {
    const done = (typeof options === 'function' ? options : cb) as SignCallback;
    const hash = typeof options === 'object' ? (options as { hash?: string }).hash : undefined;
    const own = this.#keys.find((key) => key.equals(pubKey as ParsedKey));
    if (hash === 'sha1') {
      done(new Error('refusing an ssh-rsa SHA-1 signature'));
    } else if (own) {
      const signature = own.sign(data, hash);
      if (signature instanceof Error) done(signature);
      else done(undefined, signature);
    } else if (this.#agent) {
      this.#agent.sign(pubKey as ParsedKey, data, (hash ? { hash } : {}) as SigningRequestOptions, done);
    } else {
      done(new Error('unknown key'));
    }
  }
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Builds the agent ssh2 authenticates with. Without an explicit key, uses the agent at
 * `SSH_AUTH_SOCK` and the default identities in `~/.ssh`, as OpenSSH would.
 */
// The text only: parsing depends on the passphrase, and the key must not outlive its file's change.
const identityFiles = new ParsedFileCache((text: string) => text);

export async function loadClientKeys(source: KeySource): Promise<InstanceType<typeof BaseAgent>> {
  const keys: ParsedKey[] = [];
  if (source.privateKey !== undefined)
    keys.push(parsePrivateKey(source.privateKey, source.passphrase, 'privateKey'));
  if (source.identity !== undefined) {
    let text: string;
    try {
      text = await identityFiles.get(source.identity);
    } catch (error) {
      throw new KeyLoadError(`cannot read identity ${source.identity}: ${(error as Error).message}`);
    }
    keys.push(parsePrivateKey(text, source.passphrase, source.identity));
  }
  const explicit = keys.length > 0;
  const agentSocket =
    source.agent === false
      ? undefined
      : (source.agent ?? (explicit ? undefined : process.env['SSH_AUTH_SOCK']));
  if (!explicit) {
    for (const name of DEFAULT_IDENTITIES) {
      const path = join(homedir(), '.ssh', name);
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const key = utils.parseKey(text, source.passphrase);
      // An encrypted default key is skipped (the agent may hold it), not an error.
      if (!(key instanceof Error)) keys.push(Array.isArray(key) ? key[0]! : key);
    }
  }
  if (keys.length === 0 && !agentSocket) {
    throw new KeyLoadError('no client key: give an identity file or a private key, or start an ssh-agent');
  }
  return new KeySetAgent(keys, agentSocket || undefined);
}

function parsePrivateKey(text: string, passphrase: string | undefined, where: string): ParsedKey {
  const parsed = utils.parseKey(text, passphrase);
  // ssh2's messages say what is wrong (format, passphrase) without quoting the key.
  if (parsed instanceof Error) throw new KeyLoadError(`cannot use the key in ${where}: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) throw new KeyLoadError(`${where} holds no private key`);
  return key;
}
