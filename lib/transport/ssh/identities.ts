/**
 * Which keys a connection offers, decided as OpenSSH decides (SPEC 3.2 v2): an explicit identity
 * (flag, inventory) alone, else the ssh config's IdentityFiles, else the default `~/.ssh/id_*`;
 * the agent's keys too unless a key was named explicitly or `IdentitiesOnly yes`. An encrypted
 * key is used through the agent when the agent holds it (matched by its public half, read from
 * the key file's unencrypted header or its `.pub`), else with `CLOUDIQ_SSH_PASSPHRASE`, else
 * with a passphrase asked on the terminal; with none of these the error names all three.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ParsedKey } from 'ssh2';
import ssh2 from 'ssh2';
import { ParsedFileCache } from './file-cache.ts';
import { homeDirectory } from './home.ts';
import { canPrompt, forgetPassphrase, obtainPassphrase, PASSPHRASE_VARIABLE } from './passphrase.ts';

const { OpenSSHAgent, utils } = ssh2;

/** Why no key could be loaded; the connection turns this into `AUTH_FAILED`. */
export class KeyLoadError extends Error {}

export interface KeyChoice {
  /** Private keys usable here, in the order offered. */
  keys: ParsedKey[];
  /** The agent socket to use, if any. */
  agentSocket: string | undefined;
  /** Which of the agent's keys to offer: all, or only these public blobs. */
  agentKeys: 'all' | Buffer[];
}

export interface IdentitySource {
  identity?: string;
  identityFiles?: readonly string[];
  privateKey?: string;
  passphrase?: string;
  agent?: string | false;
  agentKeys?: boolean;
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * Why a key file of this user's must not be used, as ssh decides it: one that others can read may
 * have leaked ("UNPROTECTED PRIVATE KEY FILE"). Undefined when it may (or does not exist).
 */
function tooOpen(path: string, info: { uid: number; mode: number }): string | undefined {
  if (info.uid !== process.getuid?.() || (info.mode & 0o077) === 0) return undefined;
  return (
    `${path}: permissions ${(info.mode & 0o777).toString(8)} are too open: a private key must be readable ` +
    `by you alone (chmod 600 ${path}), and ssh would not use it either`
  );
}

/** ~/.ssh's usual keys, tried when present; none without a home directory (the agent may still hold some). */
function defaultIdentities(): Array<{ path: string; required: boolean }> {
  const home = homeDirectory();
  if (home === undefined) return [];
  return DEFAULT_IDENTITIES.map((name) => ({ path: join(home, '.ssh', name), required: false }));
}

// Each key file is parsed once while it is unchanged (a fleet connects hundreds of times with it);
// an encrypted one parses to its "no passphrase given" error and is parsed again with one. The
// entry goes when the file changes, so no key outlives its file's change.
const identityFiles = new ParsedFileCache((text: string) => ({ text, parsed: utils.parseKey(text) }));

/** The keys and agent a connection authenticates with, or a KeyLoadError saying what is missing. */
export async function chooseKeys(source: IdentitySource): Promise<KeyChoice> {
  const keys: ParsedKey[] = [];
  const viaAgent: Buffer[] = [];
  const encrypted: Array<{ path: string; text: string }> = [];
  const explicit = source.identity !== undefined || source.privateKey !== undefined;
  const agentSocket =
    source.agent === false ? undefined : source.agent || process.env['SSH_AUTH_SOCK'] || undefined;
  let held: Promise<Buffer[]> | undefined;
  const agentKeysHeld = () => {
    held ??= agentIdentities(agentSocket);
    return held;
  };
  const agentHolds = async (blob: Buffer) => (await agentKeysHeld()).some((k) => k.equals(blob));

  if (source.privateKey !== undefined)
    keys.push(parsePrivateKey(source.privateKey, source.passphrase, 'privateKey'));
  const files: Array<{ path: string; required: boolean }> =
    source.identity !== undefined
      ? [{ path: source.identity, required: true }]
      : source.privateKey !== undefined
        ? []
        : source.identityFiles && source.identityFiles.length > 0
          ? source.identityFiles.map((path) => ({ path, required: false }))
          : defaultIdentities();
  const passedOver: string[] = [];
  for (const { path, required } of files) {
    let found: Awaited<ReturnType<typeof identityFiles.find>>;
    try {
      found = await identityFiles.find(path);
    } catch (error) {
      if (!required) continue;
      throw new KeyLoadError(`cannot read identity ${path}: ${(error as Error).message}`);
    }
    if (found === undefined) {
      // OpenSSH skips configured and default identity files that do not exist (or cannot be read).
      if (!required) continue;
      throw new KeyLoadError(
        `cannot read identity ${path}: ENOENT: no such file or directory, open '${path}'`,
      );
    }
    const open = tooOpen(path, found);
    if (open) {
      if (required) throw new KeyLoadError(open);
      passedOver.push(open);
      continue;
    }
    const file = found.value;
    const text = file.text;
    const parsed = source.passphrase === undefined ? file.parsed : utils.parseKey(text, source.passphrase);
    if (!(parsed instanceof Error)) {
      keys.push(firstPrivate(parsed, path));
      continue;
    }
    if (!/no passphrase given/i.test(parsed.message)) {
      if (required) throw new KeyLoadError(`cannot use the key in ${path}: ${parsed.message}`);
      continue;
    }
    const blob = await publicHalf(path, text);
    if (blob && agentSocket && (await agentHolds(blob))) viaAgent.push(blob);
    else encrypted.push({ path, text });
  }
  const agentKeys: KeyChoice['agentKeys'] = !explicit && source.agentKeys !== false ? 'all' : viaAgent;
  // The agent is asked what it holds only when that decides something (no key yet, or a prompt).
  const mustAsk = keys.length === 0 || encrypted.length > 0;
  const agentUsable =
    agentSocket !== undefined &&
    (agentKeys === 'all' ? mustAsk && (await agentKeysHeld()).length > 0 : agentKeys.length > 0);
  // A required key is always unlocked; an optional one only when nothing else could log in, so an
  // agent that works never costs a prompt.
  for (const { path, text } of encrypted) {
    const required = source.identity === path;
    if (!required && (keys.length > 0 || agentUsable) && process.env[PASSPHRASE_VARIABLE] === undefined)
      continue;
    const got = await obtainPassphrase(path);
    if (!got) {
      if (required || (keys.length === 0 && !agentUsable)) throw new KeyLoadError(noPassphraseMessage(path));
      continue;
    }
    const parsed = utils.parseKey(text, got.passphrase);
    if (parsed instanceof Error) {
      forgetPassphrase(path);
      const from = got.origin === 'environment' ? PASSPHRASE_VARIABLE : 'the passphrase typed';
      throw new KeyLoadError(`${from} does not decrypt ${path} (${parsed.message})`);
    }
    keys.push(firstPrivate(parsed, path));
  }
  if (keys.length === 0 && !agentUsable) {
    const why =
      agentSocket === undefined
        ? 'no client key: give an identity file or a private key, or start an ssh-agent'
        : `no client key: no identity file, and the agent at ${agentSocket} holds no key`;
    throw new KeyLoadError(passedOver.length === 0 ? why : `${why}; passed over: ${passedOver.join('; ')}`);
  }
  return {
    keys,
    agentSocket: agentKeys === 'all' || agentKeys.length > 0 ? agentSocket : undefined,
    agentKeys,
  };
}

/** The error for an encrypted key nobody can unlock here: the three ways there are. */
export function noPassphraseMessage(path: string): string {
  return (
    `${path} is encrypted and no passphrase is available: load it into an ssh-agent ` +
    `(ssh-add ${path}, with SSH_AUTH_SOCK set), set ${PASSPHRASE_VARIABLE}, ` +
    `or run on a terminal to be asked for it${canPrompt() ? '' : ' (stdin and stderr are not a terminal)'}`
  );
}

export function parsePrivateKey(text: string, passphrase: string | undefined, where: string): ParsedKey {
  const parsed = utils.parseKey(text, passphrase);
  // ssh2's messages say what is wrong (format, passphrase) without quoting the key.
  if (parsed instanceof Error) {
    const hint = /no passphrase given/i.test(parsed.message) ? `; ${noPassphraseMessage(where)}` : '';
    throw new KeyLoadError(`cannot use the key in ${where}: ${parsed.message}${hint}`);
  }
  return firstPrivate(parsed, where);
}

function firstPrivate(parsed: ParsedKey | ParsedKey[], where: string): ParsedKey {
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) throw new KeyLoadError(`${where} holds no private key`);
  return key;
}

/** The public key blobs the agent holds; none when it cannot be reached (as OpenSSH carries on). */
function agentIdentities(socket: string | undefined): Promise<Buffer[]> {
  if (socket === undefined) return Promise.resolve([]);
  return new Promise((resolve) => {
    new OpenSSHAgent(socket).getIdentities((error, keys) =>
      resolve(error || !keys ? [] : keys.map((key) => (key as ParsedKey).getPublicSSH())),
    );
  });
}

/**
 * The public half of an encrypted key without its passphrase: OpenSSH's format stores it in
 * clear before the encrypted part; PEM keys need their `.pub` beside them.
 */
async function publicHalf(path: string, text: string): Promise<Buffer | undefined> {
  const embedded = embeddedPublicKey(text);
  if (embedded) return embedded;
  const pub = await readFile(`${path}.pub`, 'utf8').catch(() => undefined);
  const base64 = pub?.trim().split(/\s+/)[1];
  return base64 === undefined ? undefined : Buffer.from(base64, 'base64');
}

function embeddedPublicKey(text: string): Buffer | undefined {
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]+?)-----END OPENSSH PRIVATE KEY-----/.exec(
    text,
  )?.[1];
  if (body === undefined) return undefined;
  const data = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  const magic = 'openssh-key-v1\0';
  if (data.subarray(0, magic.length).toString('latin1') !== magic) return undefined;
  let offset = magic.length;
  const field = () => {
    const length = data.readUInt32BE(offset);
    const value = data.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return value;
  };
  try {
    field(); // cipher
    field(); // kdf
    field(); // kdf options
    const count = data.readUInt32BE(offset);
    offset += 4;
    return count >= 1 ? field() : undefined;
  } catch {
    return undefined;
  }
}
