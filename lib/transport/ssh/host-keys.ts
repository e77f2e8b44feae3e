/**
 * Host-key trust: pinned `SHA256:` fingerprints, or an OpenSSH known_hosts file (plain and
 * hashed `|1|salt|hash` names, `[host]:port`, wildcards and `!negation`, several keys per host,
 * `@revoked`). No maintained npm package reads this format with hashed names and markers, so it
 * is parsed here, in one place. `@cert-authority` lines are recognised and refused: ssh2 does not
 * negotiate host certificates, so trusting a CA would trust nothing.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ParsedFileCache } from './file-cache.ts';

export type HostKeyRefusal = 'changed' | 'unknown' | 'revoked';

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; how: 'pinned' | 'known_hosts' | 'accepted-new' }
  | { ok: false; fingerprint: string; reason: HostKeyRefusal; message: string };

export interface HostKeyPolicy {
  /** Pinned fingerprints (`SHA256:…`); when given, known_hosts is not consulted. */
  hostKeys?: readonly string[];
  /** The known_hosts file; read fresh on every connection. New keys are recorded here. */
  knownHostsFile?: string;
  /** Read after it, never written: more user files, then the system's (`/etc/ssh/ssh_known_hosts`). */
  moreKnownHostsFiles?: readonly string[];
  /** The name looked up instead of `host` / `[host]:port` (OpenSSH's `HostKeyAlias`). */
  hostKeyAlias?: string;
  /** Record the key of a host with no trusted key, as OpenSSH's `accept-new` does. */
  acceptNew?: boolean;
}

export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | null;
  /** The host field as written: patterns, or one hashed name. */
  hosts: string;
  keyType: string;
  key: Buffer;
  line: number;
}

const FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;

/** OpenSSH's `SHA256:` fingerprint of a key blob (base64 without padding). */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** A pinned fingerprint in canonical form, or null when it is not one. */
export function normalizeFingerprint(text: string): string | null {
  const match = FINGERPRINT.exec(text.trim());
  return match ? `SHA256:${match[1]}` : null;
}

/** The name known_hosts files use for a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** The key type named inside a key blob (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** Reads known_hosts text; lines that are not entries (comments, garbage) are skipped as OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/[ \t]+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    } else if (fields[0].startsWith('@')) {
      return;
    }
    const [hosts, keyType, base64] = fields;
    if (hosts === undefined || keyType === undefined || base64 === undefined) return;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return;
    const key = Buffer.from(base64, 'base64');
    if (keyTypeOf(key) !== keyType) return;
    entries.push({ marker, hosts, keyType, key, line: index + 1 });
  });
  return entries;
}

/** Whether a known_hosts host field names `name` (hashed, or patterns with `*`, `?` and `!`). */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (salt === undefined || hash === undefined) return false;
    const expected = Buffer.from(hash, 'base64');
    const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of hosts.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** What one connection needs to decide on a host key: preferred key types, and the check itself. */
export interface HostKeyCheck {
  /** Key types already trusted for this host (to offer those host-key algorithms first). */
  keyTypes: string[];
  verify(blob: Buffer): Promise<HostKeyVerdict>;
}

/** Reads the trust for one host (`host`, `port` as the client names them) before connecting. */
export async function loadHostKeyCheck(
  policy: HostKeyPolicy,
  host: string,
  port: number,
): Promise<HostKeyCheck> {
  const name = knownHostsName(host, port);
  const pins = (policy.hostKeys ?? []).map((pin) => normalizeFingerprint(pin) ?? pin);
  if (pins.length > 0) {
    return {
      keyTypes: [],
      async verify(blob) {
        const fingerprint = fingerprintOf(blob);
        if (pins.includes(fingerprint)) return { ok: true, fingerprint, how: 'pinned' };
        return {
          ok: false,
          fingerprint,
          reason: 'changed',
          message: `host key ${fingerprint} is not the pinned ${pins.join(' or ')}`,
        };
      },
    };
  }
  const file = policy.knownHostsFile;
  const files = [...(file === undefined ? [] : [file]), ...(policy.moreKnownHostsFiles ?? [])];
  const lookup = policy.hostKeyAlias?.toLowerCase() ?? name;
  const read = await Promise.all(files.map((each) => knownHostsFor(each, lookup)));
  const forHost = read.flatMap((each) => each.entries);
  const where =
    files.length === 0
      ? '(no known_hosts file)'
      : read.map((each) => (each.unreadable ? `${each.file} (${each.unreadable})` : each.file)).join(', ');
  return {
    keyTypes: [...new Set(forHost.filter((entry) => entry.marker === null).map((entry) => entry.keyType))],
    async verify(blob) {
      const fingerprint = fingerprintOf(blob);
      const verdict = judge(forHost, blob, fingerprint, where);
      if (verdict.ok || verdict.reason !== 'unknown') return verdict;
      if (forHost.some((entry) => entry.marker === 'cert-authority')) return verdict;
      if (!policy.acceptNew || file === undefined)
        return { ...verdict, message: unknownHostMessage(blob, where, host, port, file) };
      const recorded = await recordHostKey(file, lookup, blob);
      return recorded.ok ? { ok: true, fingerprint, how: 'accepted-new' } : recorded;
    },
  };
}

/** What to do about a host nobody has trusted yet: its fingerprint, and the two ways to trust it. */
function unknownHostMessage(blob: Buffer, where: string, host: string, port: number, file?: string): string {
  const type = keyTypeOf(blob);
  const short =
    type === 'ssh-ed25519'
      ? 'ed25519'
      : type === 'ssh-rsa'
        ? 'rsa'
        : type.startsWith('ecdsa')
          ? 'ecdsa'
          : type;
  const keyscan = `ssh-keyscan -p ${port} -t ${short} ${host}${file === undefined ? '' : ` >> ${file}`}`;
  return (
    `no trusted key for this host in ${where}; it offered ${type} key ${fingerprintOf(blob)}. ` +
    `If that is the host's key, trust it with --accept-new-host-key (accept_new_host_key = true in an inventory), ` +
    `or add it yourself: ${keyscan}`
  );
}

function judge(forHost: KnownHostEntry[], blob: Buffer, fingerprint: string, file: string): HostKeyVerdict {
  const revoked = forHost.find((entry) => entry.marker === 'revoked' && entry.key.equals(blob));
  if (revoked) {
    return {
      ok: false,
      fingerprint,
      reason: 'revoked',
      message: `host key ${fingerprint} is @revoked in ${file}`,
    };
  }
  const plain = forHost.filter((entry) => entry.marker === null);
  if (plain.some((entry) => entry.key.equals(blob))) return { ok: true, fingerprint, how: 'known_hosts' };
  if (plain.length > 0) {
    const lines = plain.map((entry) => entry.line).join(', ');
    return {
      ok: false,
      fingerprint,
      reason: 'changed',
      message: `host key ${fingerprint} differs from the key(s) in ${file} (line ${lines}): it has CHANGED`,
    };
  }
  if (forHost.some((entry) => entry.marker === 'cert-authority')) {
    return {
      ok: false,
      fingerprint,
      reason: 'unknown',
      message: `${file} trusts this host only through @cert-authority, which is not supported: add the host's own key (${fingerprint}) or pin it`,
    };
  }
  return { ok: false, fingerprint, reason: 'unknown', message: `no trusted key for this host in ${file}` };
}

/**
 * A parsed known_hosts with each host's entries found once. Entries whose host field is plain
 * names (no pattern, negation or hash) are filed under each name, so a fleet's lookups cost one
 * map hit each rather than a match against every line; the rest (patterns, hashed names, which
 * cost an HMAC each) are matched per name. The entries keep their file order.
 */
function indexKnownHosts(text: string): (name: string) => KnownHostEntry[] {
  const entries = parseKnownHosts(text);
  const plain = new Map<string, KnownHostEntry[]>();
  const matched: KnownHostEntry[] = [];
  for (const entry of entries) {
    if (entry.hosts.startsWith('|1|') || /[*?!]/.test(entry.hosts)) {
      matched.push(entry);
      continue;
    }
    for (const name of new Set(entry.hosts.toLowerCase().split(','))) {
      const list = plain.get(name);
      if (list) list.push(entry);
      else plain.set(name, [entry]);
    }
  }
  const byName = new Map<string, KnownHostEntry[]>();
  return (name) => {
    let found = byName.get(name);
    if (!found) {
      const direct = plain.get(name) ?? [];
      const patterned = matched.filter((entry) => hostFieldMatches(entry.hosts, name));
      found = patterned.length === 0 ? direct : [...direct, ...patterned].sort((a, b) => a.line - b.line);
      byName.set(name, found);
    }
    return found;
  };
}

const knownHostsFiles = new ParsedFileCache(indexKnownHosts);

/**
 * The entries of `file` that name `name`: none when the file does not exist, or cannot be read
 * (`ssh` passes over such a file too; it can only take trust away, and the unknown-host message
 * says which file it was).
 */
async function knownHostsFor(
  file: string,
  name: string,
): Promise<{ file: string; entries: KnownHostEntry[]; unreadable?: string }> {
  try {
    return { file, entries: (await knownHostsFiles.find(file))?.value(name) ?? [] };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      return { file, entries: [], unreadable: `unreadable: ${code}` };
    throw error;
  }
}

// One append at a time per file in this process, each re-reading first and judging the key
// against what is there now: two connections to the same new host record it once, and a key
// recorded meanwhile by another connection (this process's) is the host's, as OpenSSH's
// accept-new has it: a different one is then `changed`, never recorded beside it.
const appending = new Map<string, Promise<unknown>>();

async function recordHostKey(file: string, name: string, blob: Buffer): Promise<HostKeyVerdict> {
  const previous = appending.get(file) ?? Promise.resolve();
  const next = previous
    .catch(() => {})
    .then(async () => {
      let text = '';
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      }
      const entries = indexKnownHosts(text)(name);
      const fingerprint = fingerprintOf(blob);
      const verdict = judge(entries, blob, fingerprint, file);
      if (verdict.ok || verdict.reason !== 'unknown') return verdict;
      if (entries.some((entry) => entry.marker === 'cert-authority')) return verdict;
      const separator = text === '' || text.endsWith('\n') ? '' : '\n';
      await appendFile(file, `${separator}${name} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, {
        mode: 0o600,
      });
      return { ok: true, fingerprint, how: 'accepted-new' } as const;
    });
  appending.set(file, next);
  try {
    return await next;
  } finally {
    if (appending.get(file) === next) appending.delete(file);
  }
}
