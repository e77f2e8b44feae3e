/**
 * OpenSSH's client configuration (SPEC 3.2 v2): what `ssh NAME` would use for a host, read from
 * `~/.ssh/config` then `/etc/ssh/ssh_config` (or from one file only, as `ssh -F FILE` does).
 * The `ssh-config` package parses the files and computes the `Host` / `Match` blocks that apply,
 * first value winning as in OpenSSH; this module expands `Include`, reads the keywords we honour
 * into typed values and refuses the ones we cannot honour (`StrictHostKeyChecking no`,
 * `ProxyCommand`) with a CONFIG_ERROR rather than connecting somewhere `ssh` would not.
 *
 * Not supported, by the package or here: `Match exec` (never matches: it would run a shell
 * command while reading a file), `Match canonical` / `localnetwork` / `tagged`, and host-name
 * canonicalisation; `Include` is expanded in place.
 */

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';
import { BootstrapError } from '../../errors.ts';
import { homeDirectory, homeFor } from './home.ts';

/**
 * The files `ssh` reads when no `-F` is given, in order. As `ssh` does with them, one that cannot
 * be read is passed over, and the user's own is refused when someone else could have written it.
 */
export function defaultSshConfigFiles(): string[] {
  const home = homeDirectory();
  return [...(home === undefined ? [] : [join(home, '.ssh', 'config')]), '/etc/ssh/ssh_config'];
}

/** What the configuration says about one host; unset keywords are absent. */
export interface HostSshConfig {
  hostName?: string | undefined;
  user?: string | undefined;
  port?: number | undefined;
  /** `IdentityFile`s in order, tokens not yet expanded (they need the final host, port and user). */
  identityFiles: string[];
  identitiesOnly?: boolean | undefined;
  /** `IdentityAgent`: a socket path, or `false` for `none`. */
  identityAgent?: string | false | undefined;
  /** `ProxyJump` hops in order (`[user@]host[:port]`), or `'none'`. */
  proxyJump?: string[] | 'none' | undefined;
  userKnownHostsFiles?: string[] | undefined;
  globalKnownHostsFiles?: string[] | undefined;
  /** `yes` and `ask` (never asked: we have no one to ask mid-run) verify; `accept-new` records first. */
  strictHostKeyChecking?: 'yes' | 'accept-new' | undefined;
  /** `StrictHostKeyChecking no`: refused (SPEC 3.2) unless the caller's own trust setting wins. */
  strictRefusal?: BootstrapError | undefined;
  hostKeyAlias?: string | undefined;
  connectTimeoutMs?: number | undefined;
  serverAliveIntervalMs?: number | undefined;
  serverAliveCountMax?: number | undefined;
}

type Computed = Record<string, string | string[]>;

/**
 * The configuration of `name` (as typed after `ssh`), from `files` in order: `ssh`'s own files
 * (`defaults`, see defaultSshConfigFiles) or the one given as `ssh -F FILE` would take it.
 */
export function sshConfigFor(
  name: string,
  files: readonly string[],
  how: { defaults?: boolean } = {},
): HostSshConfig {
  const out: HostSshConfig = { identityFiles: [] };
  // OpenSSH lowercases the host name it is given before matching `Host` patterns.
  const host = name.toLowerCase();
  for (const file of files) {
    const entry = parsedConfig(file, how.defaults === true);
    if (!entry) continue;
    readInto(out, computedFor(entry, host), file, name);
  }
  return out;
}

/**
 * What the file sets for `host`. A file whose blocks are all `Host *` (the usual
 * /etc/ssh/ssh_config) says the same for every host: it is computed once while it is unchanged,
 * not once per host of a fleet (the package's `compute` reads the user database and builds a
 * dozen regular expressions per pattern at every call).
 */
function computedFor(entry: ParsedConfig, host: string): Computed {
  const compute = () => entry.config.compute(host, { ignoreCase: true, matchExec: false }) as Computed;
  if (!entry.sameForEveryHost) return compute();
  entry.computed ??= compute();
  return entry.computed;
}

function readInto(out: HostSshConfig, c: Computed, file: string, name: string): void {
  const fail = (key: string, why: string) =>
    new BootstrapError('CONFIG_ERROR', `${file}: ${key} for ${name}: ${why}`, {
      file,
      host: name,
      key,
    });
  const one = (key: string): string | undefined => {
    const value = c[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const many = (key: string): string[] | undefined => {
    const value = c[key];
    if (value === undefined) return undefined;
    return (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(/\s+/)).filter(Boolean);
  };
  const seconds = (key: string): number | undefined => {
    const value = one(key.toLowerCase());
    if (value === undefined) return undefined;
    const total = sshTime(value);
    if (total === undefined)
      throw fail(key, `expected a time (seconds, or like 1m30s), got ${JSON.stringify(value)}`);
    return total * 1000;
  };
  const hostName = one('hostname');
  // HostName takes `%h` (the name given) and `%%`, and nothing else.
  if (out.hostName === undefined && hostName !== undefined)
    out.hostName = hostName.replace(/%([%h])/g, (_, t: string) => (t === '%' ? '%' : name));
  out.user ??= one('user');
  const port = one('port');
  if (out.port === undefined && port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
      throw fail('Port', `expected a port number, got ${JSON.stringify(port)}`);
    out.port = Number(port);
  }
  out.identityFiles.push(...(many('identityfile') ?? []));
  const only = one('identitiesonly');
  if (out.identitiesOnly === undefined && only !== undefined)
    out.identitiesOnly = only.toLowerCase() === 'yes';
  const agent = one('identityagent');
  if (out.identityAgent === undefined && agent !== undefined)
    out.identityAgent = agent.toLowerCase() === 'none' ? false : agent;
  const jump = one('proxyjump');
  const command = one('proxycommand');
  if (out.proxyJump === undefined && jump !== undefined) {
    out.proxyJump = jump.toLowerCase() === 'none' ? 'none' : jump.split(',').map((hop) => hop.trim());
  } else if (out.proxyJump === undefined && command !== undefined && command.toLowerCase() !== 'none') {
    throw fail(
      'ProxyCommand',
      'ProxyCommand is not supported (we cannot run it for ssh2); use ProxyJump, or set jump = in the inventory',
    );
  }
  out.userKnownHostsFiles ??= many('userknownhostsfile');
  out.globalKnownHostsFiles ??= many('globalknownhostsfile');
  const strict = one('stricthostkeychecking')?.toLowerCase();
  if (out.strictHostKeyChecking === undefined && out.strictRefusal === undefined && strict !== undefined) {
    if (strict === 'no' || strict === 'off' || strict === 'false')
      out.strictRefusal = fail(
        'StrictHostKeyChecking',
        `"${strict}" would run commands on a host whose key nobody checked; host keys are always verified here. ` +
          'Use "accept-new" (or --accept-new-host-key) to record a new host\'s key, or pin it with --host-key',
      );
    else if (strict === 'accept-new') out.strictHostKeyChecking = 'accept-new';
    else if (strict === 'yes' || strict === 'true' || strict === 'ask') out.strictHostKeyChecking = 'yes';
    else
      throw fail(
        'StrictHostKeyChecking',
        `expected yes, true, accept-new or ask, got ${JSON.stringify(strict)}`,
      );
  }
  out.hostKeyAlias ??= one('hostkeyalias');
  out.connectTimeoutMs ??= seconds('ConnectTimeout');
  out.serverAliveIntervalMs ??= seconds('ServerAliveInterval');
  const countMax = one('serveralivecountmax');
  if (out.serverAliveCountMax === undefined && countMax !== undefined) {
    if (!/^[0-9]{1,4}$/.test(countMax)) throw fail('ServerAliveCountMax', 'expected a count');
    out.serverAliveCountMax = Number(countMax);
  }
}

const TIME_UNIT: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * A time as ssh_config(5) writes it (its TIME FORMATS: `90`, `1m30s`, `1h`, units s m h d w in
 * either case), in seconds; undefined when it is not one, or is over 999,999 s (11 days), past any
 * timeout worth setting.
 */
export function sshTime(value: string): number | undefined {
  if (!/^(?:[0-9]{1,7}[smhdwSMHDW]?)+$/.test(value)) return undefined;
  let total = 0;
  for (const [, digits, unit] of value.matchAll(/([0-9]+)([a-zA-Z]?)/g))
    total += Number(digits) * (TIME_UNIT[(unit ?? '').toLowerCase()] ?? Number.NaN);
  return Number.isFinite(total) && total <= 999_999 ? total : undefined;
}

/** The values `%` tokens stand for (OpenSSH's TOKENS section). */
export interface TokenValues {
  /** `%h`: the host name connected to (after HostName). */
  host: string;
  /** `%n`: the name as given. */
  original: string;
  port: number;
  /** `%r`: the remote user. */
  user: string;
  /** `%k`: HostKeyAlias, else the name as given. */
  hostKeyAlias?: string;
  /** `%j`: the ProxyJump text, if any. */
  proxyJump?: string;
}

/** Expands `~`, `${VAR}` and the `%` tokens OpenSSH documents for IdentityFile and known_hosts files. */
export function expandSshPath(text: string, values: TokenValues): string {
  const home = () => homeFor(text);
  const withEnv = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_whole, variable: string) => {
    const value = process.env[variable];
    if (value === undefined)
      throw new BootstrapError('CONFIG_ERROR', `${text}: \${${variable}} is not set`, {});
    return value;
  });
  const tokens: Record<string, () => string> = {
    '%': () => '%',
    d: home,
    u: () => localUserName(),
    h: () => values.host,
    n: () => values.original,
    p: () => String(values.port),
    r: () => values.user,
    k: () => values.hostKeyAlias ?? values.original,
    j: () => values.proxyJump ?? '',
    i: () => String(process.getuid?.() ?? ''),
    l: () => hostname(),
    L: () => hostname().split('.')[0] ?? '',
    C: () =>
      createHash('sha1')
        .update(`${hostname()}${values.host}${values.port}${values.user}${values.proxyJump ?? ''}`)
        .digest('hex'),
  };
  const expanded = withEnv.replace(/%(.)/g, (_whole, token: string) => {
    const value = tokens[token];
    if (!value)
      throw new BootstrapError('CONFIG_ERROR', `${text}: unsupported token %${token}`, { path: text });
    return value();
  });
  if (expanded === '~' || expanded.startsWith('~/')) return home() + expanded.slice(1);
  // Relative paths are taken from the home directory, as OpenSSH does for these keywords.
  return isAbsolute(expanded) ? expanded : join(home(), expanded);
}

let localName: string | undefined;

/**
 * The name of the user this process runs as, the way `ssh` takes it (the user database), else
 * USER or LOGNAME: the remote user when none is given, and `%u`. Read once per process. A uid with
 * no name anywhere (a container started with an arbitrary uid) is a CONFIG_ERROR that says where
 * to give the remote user instead.
 */
export function localUserName(): string {
  if (localName !== undefined) return localName;
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // No entry for this uid in the user database.
  }
  name ||= process.env['USER'] || process.env['LOGNAME'];
  if (!name) {
    const uid = process.getuid?.() ?? null;
    throw new BootstrapError(
      'CONFIG_ERROR',
      `this process's user (uid ${uid}) has no name, and USER and LOGNAME are unset: ` +
        "give the remote user as USER@HOST, the inventory's user, or the ssh config's User",
      { uid },
    );
  }
  localName = name;
  return name;
}

interface ParsedConfig {
  config: SSHConfig;
  /** No `Match`, and every `Host` line is `Host *`. */
  sameForEveryHost: boolean;
  computed?: Computed;
}

const parsed = new Map<
  string,
  { version: string; includes: string[]; includesVersion: string; entry: ParsedConfig }
>();

/** Size, time, inode, owner and mode: a chmod or chown counts as a change (it is checked again). */
const versionOf = (info: Stats) => `${info.size}:${info.mtimeMs}:${info.ino}:${info.mode}:${info.uid}`;

/** What the Include patterns name now: the files each matches, with their versions. */
function includesVersion(patterns: readonly string[]): string {
  return patterns
    .map((pattern) =>
      matchingFiles(pattern)
        .map((path) => {
          const info = statSync(path, { throwIfNoEntry: false });
          return `${path}=${info ? versionOf(info) : '-'}`;
        })
        .join(','),
    )
    .join(';');
}

/**
 * A config file parsed (with its Includes), kept while neither it nor what its Includes match
 * changed; null when it does not exist, or, for one of ssh's own files, when it cannot be read
 * (ssh passes over it too).
 */
function parsedConfig(file: string, asDefault: boolean): ParsedConfig | null {
  let info: Stats | undefined;
  try {
    // Checked at every connection: a missing file (the usual ~/.ssh/config) costs no exception.
    info = statSync(file, { throwIfNoEntry: false });
  } catch {
    return null;
  }
  if (info === undefined) return null;
  const version = versionOf(info);
  const cached = parsed.get(file);
  if (cached?.version === version && includesVersion(cached.includes) === cached.includesVersion)
    return cached.entry;
  let config: SSHConfig;
  const includes: string[] = [];
  try {
    config = SSHConfig.parse(withIncludes(file, 0, includes));
  } catch (error) {
    if (error instanceof BootstrapError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (
      asDefault &&
      (code === 'EACCES' || code === 'EPERM') &&
      (error as NodeJS.ErrnoException).path === file
    )
      return null;
    throw new BootstrapError(
      'CONFIG_ERROR',
      `${file}: cannot read the ssh configuration: ${(error as Error).message}`,
      { file },
      { cause: error },
    );
  }
  if (asDefault && !file.startsWith('/etc/ssh/')) refuseForeignWritable(file, info);
  const entry = { config: withoutCanonicalDomains(config), sameForEveryHost: sameForEveryHost(config) };
  parsed.set(file, { version, includes, includesVersion: includesVersion(includes), entry });
  return entry;
}

/**
 * The user's own config, and any file an Include brings in, is refused when another user could
 * have written it (owned by neither them nor root, or writable by group or others): it says where
 * connections go and with which keys. `ssh` refuses such a file too ("Bad owner or permissions").
 */
function refuseForeignWritable(file: string, info: { uid: number; mode: number }): void {
  const me = process.getuid?.();
  if (me === undefined) return;
  if ((info.uid !== 0 && info.uid !== me) || (info.mode & 0o022) !== 0) {
    throw new BootstrapError(
      'CONFIG_ERROR',
      `${file}: bad owner or permissions (owned by uid ${info.uid}, mode ${(info.mode & 0o7777).toString(8)}): ` +
        'it must belong to you or root and be writable by no one else, as ssh requires',
      { file },
    );
  }
}

const isDirective = (line: SSHConfig[number]): line is Extract<SSHConfig[number], { param: string }> =>
  line.type === SSHConfig.DIRECTIVE;

/**
 * Host-name canonicalisation is not supported (see above), and the package would carry it out by
 * running `nslookup` synchronously for every host a `CanonicalDomains` line names: those lines go.
 */
function withoutCanonicalDomains(config: SSHConfig): SSHConfig {
  const drop = (lines: SSHConfig[number][]) => {
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!;
      if (!isDirective(line)) continue;
      if (/^canonicaldomains$/i.test(line.param)) lines.splice(i, 1);
      else if ('config' in line) drop(line.config);
    }
  };
  drop(config);
  return config;
}

function sameForEveryHost(config: SSHConfig): boolean {
  return config.every((line) => {
    if (!isDirective(line)) return true;
    if (/^match$/i.test(line.param)) return false;
    if (!/^host$/i.test(line.param)) return true;
    const patterns = Array.isArray(line.value) ? line.value.map(({ val }) => val) : line.value.split(',');
    return patterns.every((pattern) => pattern === '*');
  });
}

/**
 * The file's text with each `Include` replaced by the files it names (OpenSSH allows 16 levels);
 * every pattern met, at any depth, is added to `patterns`.
 */
function withIncludes(file: string, depth: number, patterns: string[]): string {
  if (depth > 16) throw new BootstrapError('CONFIG_ERROR', `${file}: Include nested too deeply`, { file });
  const text = readFileSync(file, 'utf8');
  // Relative Include paths are taken from ~/.ssh for a user's file, /etc/ssh for the system's.
  const base = () => (file.startsWith('/etc/ssh/') ? '/etc/ssh' : join(homeFor(file), '.ssh'));
  return text
    .split(/\r?\n/)
    .map((line) => {
      const match = /^\s*include\s*[=\s]\s*(.+?)\s*$/i.exec(line);
      if (!match) return line;
      return match[1]!
        .split(/\s+/)
        .flatMap((pattern) => {
          const home =
            pattern === '~' || pattern.startsWith('~/') ? homeFor(pattern) + pattern.slice(1) : pattern;
          const path = isAbsolute(home) ? home : join(base(), home);
          patterns.push(path);
          return matchingFiles(path);
        })
        .map((included) => {
          // ssh holds every included file, its own or the system's, to the user config's rule.
          refuseForeignWritable(included, statSync(included));
          return withIncludes(included, depth + 1, patterns);
        })
        .join('\n');
    })
    .join('\n');
}

/** Files matching a path whose last part may hold `*` and `?` (what Include globs are in practice). */
function matchingFiles(path: string): string[] {
  const name = basename(path);
  if (!/[*?]/.test(name)) return statSync(path, { throwIfNoEntry: false })?.isFile() ? [path] : [];
  const pattern = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return [];
  }
  return names
    .filter((entry) => pattern.test(entry))
    .sort()
    .map((entry) => join(dirname(path), entry))
    .filter((entry) => statSync(entry).isFile());
}
