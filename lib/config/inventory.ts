/**
 * The INI inventory of SPEC 3.1: `[defaults]` merged under every `[host:NAME]`, validated with
 * zod, each problem a `CONFIG_ERROR` naming the file, the section and the key. Local paths
 * (`identity`, `known_hosts`) have `~` expanded and are taken relative to the inventory's
 * folder; paths on the host (`state_dir`, `config_path`) must be absolute.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { BootstrapError, configError } from '../errors.ts';
import { homeFor } from '../transport/ssh/home.ts';
import { type DynamicSource, parseSources } from './dynamic-sources.ts';
import { parseIni } from './ini-file.ts';
import { NAME_PATTERN } from './names.ts';
import { nameRecord } from './records.ts';

/** Host names: like product names, upper case and (v2) dots allowed (`web-1.eu`). */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** A `jump =` that is a bare word names a host of the inventory; one with a dot may be a DNS name. */
const BARE_WORD = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[?[0-9A-Fa-f:.]+\]?)$/;
const JUMP =
  /^(?:[A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const REMOTE_PATH = /^\/[^\0-\x1f\x7f]*$/;

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

const text = (pattern: RegExp, what: string) => z.string().trim().regex(pattern, `expected ${what}`);

/** One host's keys as written (strings), validated and turned into their typed values. */
const hostKeysSchema = z.strictObject({
  transport: z.enum(['ssh', 'ssm', 'local'], { error: 'expected ssh, ssm or local' }).default('ssh'),
  address: text(ADDRESS, 'a host name or an IP address')
    .transform((value) => value.replace(/^\[(.*)\]$/, '$1'))
    .nullable()
    .default(null),
  // null: not written, so the ssh config's Port (else 22) applies.
  port: text(/^[0-9]{1,5}$/, 'a port number')
    .transform(Number)
    .refine((port) => port >= 1 && port <= 65535, 'expected a port number (1-65535)')
    .nullable()
    .default(null),
  user: text(/^[A-Za-z0-9._][A-Za-z0-9._-]{0,31}$/, 'a user name')
    .nullable()
    .default(null),
  identity: z.string().trim().min(1, 'expected a path').nullable().default(null),
  known_hosts: z.string().trim().min(1, 'expected a path').nullable().default(null),
  host_key: z
    .string()
    .transform(list)
    .refine(
      (pins) => pins.length > 0 && pins.every((pin) => FINGERPRINT.test(pin)),
      'expected SHA256:… fingerprint(s)',
    )
    .default([]),
  jump: text(JUMP, 'a host of this inventory or [USER@]HOST[:PORT]').nullable().default(null),
  instance_id: text(/^(?:i|mi)-[0-9a-f]{8,17}$/, 'an EC2 instance id (i-…)')
    .nullable()
    .default(null),
  region: text(/^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$/, 'an AWS region (eu-west-1)')
    .nullable()
    .default(null),
  groups: z
    .string()
    .transform(list)
    .refine(
      (groups) => groups.every((group) => NAME_PATTERN.test(group)),
      'expected group names (a-z, 0-9, _ and -)',
    )
    .default([]),
  state_dir: text(REMOTE_PATH, 'an absolute path on the host').nullable().default(null),
  config_path: text(REMOTE_PATH, 'an absolute path on the host').nullable().default(null),
  accept_new_host_key: z
    .string()
    .trim()
    .toLowerCase()
    .refine((value) => ['true', 'false', 'yes', 'no'].includes(value), 'expected true or false')
    .transform((value) => value === 'true' || value === 'yes')
    // Unset (null) is not `false`: the ssh config's StrictHostKeyChecking decides only where the
    // inventory says nothing (SPEC 3.2: inventory keys win).
    .nullable()
    .default(null),
});

const hostSchema = hostKeysSchema.transform((keys) => ({
  transport: keys.transport,
  /** For ssh: where to connect (the host's name when not set); null for other transports unless set. */
  address: keys.address,
  port: keys.port,
  user: keys.user,
  /** Absolute, `~` expanded. */
  identity: keys.identity,
  /** Absolute, `~` expanded. */
  knownHosts: keys.known_hosts,
  /** Pinned `SHA256:` fingerprints; empty when known_hosts is used. */
  hostKey: keys.host_key,
  /** Another host of this inventory, or `[USER@]HOST[:PORT]`. */
  jump: keys.jump,
  instanceId: keys.instance_id,
  region: keys.region,
  groups: keys.groups,
  stateDir: keys.state_dir,
  configPath: keys.config_path,
  acceptNewHostKey: keys.accept_new_host_key,
}));

type HostFields = z.output<typeof hostSchema>;

/** One validated `[host:NAME]`, with `[defaults]` merged in. */
export type InventoryHost = { name: string } & HostFields & {
    /** A dynamic host's tags (SPEC 3.1 v2), for `tag:KEY=VALUE` selectors. */
    tags?: Record<string, string>;
  };

export interface Inventory {
  file: string;
  /** In file order; dynamic hosts (once listed) after the static ones. */
  hosts: InventoryHost[];
  /** `[defaults] ssh_config`: the OpenSSH client config read instead of ~/.ssh/config. */
  sshConfig?: string;
  /** `[source:NAME]` sections, listed by `expandInventory` (dynamic-inventory.ts). */
  sources?: DynamicSource[];
}

/** Parses and validates inventory text; `file` names it in errors and anchors relative paths. */
export function parseInventory(textIn: string, file: string): Inventory {
  checkSectionHeaders(textIn, file);
  const doc = parseIni(textIn, file, { once: true });
  const { ssh_config: sshConfigPath, ...rest } = doc['defaults'] ?? nameRecord<string>();
  const defaults = nameRecord(Object.entries(rest));
  for (const section of Object.keys(doc)) {
    if (section === '')
      throw configError(file, null, Object.keys(doc[''] ?? {})[0] ?? null, 'key outside any section');
    if (section !== 'defaults' && !section.startsWith('host:') && !section.startsWith('source:')) {
      throw configError(
        file,
        section,
        null,
        'unknown section (expected [defaults], [host:NAME] or [source:NAME])',
      );
    }
    if (section !== 'defaults' && doc[section] && 'ssh_config' in doc[section])
      throw configError(
        file,
        section,
        'ssh_config',
        'belongs to [defaults]: one ssh config for the inventory',
      );
  }
  for (const key of ['address', 'instance_id']) {
    if (key in defaults) throw configError(file, 'defaults', key, 'belongs to one host, not to [defaults]');
  }
  validate(hostSchema, defaults, file, 'defaults', new Set(Object.keys(defaults)));

  const hosts: InventoryHost[] = [];
  for (const [section, entries] of Object.entries(doc)) {
    if (!section.startsWith('host:')) continue;
    const name = section.slice('host:'.length);
    if (!HOST_NAME_PATTERN.test(name))
      throw configError(file, section, null, `invalid host name ${JSON.stringify(name)}`);
    hosts.push(inventoryHost(name, defaults, entries, file, section));
  }
  checkHosts(hosts, file);
  const inventory: Inventory = { file, hosts };
  if (sshConfigPath !== undefined) inventory.sshConfig = localPath(sshConfigPath.trim(), file);
  const sources = parseSources(doc, defaults, file);
  if (sources.length > 0) inventory.sources = sources;
  return inventory;
}

/**
 * One host from `[defaults]` and its own keys, validated as a `[host:NAME]` is: how a dynamic
 * source's instances become inventory hosts.
 */
export function inventoryHost(
  name: string,
  defaults: Record<string, string>,
  entries: Record<string, string>,
  file: string,
  section: string,
): InventoryHost {
  const fields = validate(
    hostSchema,
    nameRecord([...Object.entries(defaults), ...Object.entries(entries)]),
    file,
    section,
    new Set(Object.keys(entries)),
  );
  return {
    name,
    ...localPaths(fields, file),
    address: fields.address ?? (fields.transport === 'ssh' ? name : null),
  };
}

/** Reads and parses an inventory file; a missing or unreadable file is a CONFIG_ERROR too. */
export async function loadInventory(file: string): Promise<Inventory> {
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    throw new BootstrapError(
      'CONFIG_ERROR',
      `${file}: cannot read the inventory: ${(error as Error).message}`,
      { file, section: null, key: null },
      { cause: error },
    );
  }
  return parseInventory(content, file);
}

function validate(
  schema: typeof hostSchema,
  entries: Record<string, string>,
  file: string,
  section: string,
  own: Set<string>,
): HostFields {
  const result = schema.safeParse(entries);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw configError(file, section, issue.keys[0] ?? null, 'unknown key');
  const key = String(issue.path[0] ?? '');
  // A bad value inherited from [defaults] is reported there.
  const where = own.has(key) ? section : 'defaults';
  throw configError(file, where, key || null, `${issue.message}, got ${JSON.stringify(entries[key] ?? '')}`);
}

function localPath(path: string, file: string): string {
  const home = path === '~' || path.startsWith('~/') ? homeFor(path) + path.slice(1) : path;
  return isAbsolute(home) ? home : resolve(dirname(resolve(file)), home);
}

function localPaths(fields: HostFields, file: string): HostFields {
  const expand = (path: string | null) => (path === null ? null : localPath(path, file));
  return { ...fields, identity: expand(fields.identity), knownHosts: expand(fields.knownHosts) };
}

function checkHosts(hosts: InventoryHost[], file: string): void {
  const byName = new Map(hosts.map((host) => [host.name, host]));
  for (const host of hosts) {
    const section = `host:${host.name}`;
    if (host.transport === 'ssm' && host.instanceId === null) {
      throw configError(file, section, 'instance_id', 'required for transport = ssm');
    }
    if (host.jump !== null && BARE_WORD.test(host.jump) && !byName.has(host.jump)) {
      // A bare word is meant as one of our hosts: a typo must not send the connection elsewhere.
      throw configError(
        file,
        section,
        'jump',
        `no [host:${host.jump}] in this inventory (for a host outside it, write USER@HOST or its full name)`,
      );
    }
    // A jump naming a host of the inventory goes through it; follow the chain to refuse loops.
    const seen = new Set([host.name]);
    for (let hop = host.jump; hop !== null && byName.has(hop); hop = byName.get(hop)!.jump) {
      const next = byName.get(hop)!;
      if (next.transport !== 'ssh')
        throw configError(file, section, 'jump', `${hop} is not reached over ssh`);
      if (seen.has(hop)) throw configError(file, section, 'jump', `jump hosts loop through ${hop}`);
      seen.add(hop);
    }
  }
}

/** The INI reader merges repeated sections: that would silently lose hosts. */
function checkSectionHeaders(content: string, file: string): void {
  const seen = new Set<string>();
  for (const line of content.split(/\r?\n/)) {
    const match = SECTION_LINE.exec(line);
    if (!match) continue;
    const section = match[2]!.trim();
    if (seen.has(section)) throw configError(file, section, null, 'section appears twice');
    seen.add(section);
  }
}

const SECTION_LINE = /^(\s*\[)(.*)(\]\s*(?:[;#].*)?)$/;

/**
 * The hosts a selector picks (SPEC 3.1): `all`, or a comma-separated list of host names,
 * `group:NAME`s and (v2) `tag:KEY=VALUE`s (dynamic hosts carrying that tag); inventory order, each host once. An unknown name or group is UNKNOWN_SERVER;
 * a selector that picks nothing is INVALID_REQUEST. A bare name that is a group and no host's name
 * picks the group; one that is both is INVALID_REQUEST (`group:NAME` says which).
 */
export function selectHosts(inventory: Inventory, selector: string): InventoryHost[] {
  return pickHosts(inventory.hosts, selector, inventory.file);
}

/** `selectHosts` over any list of named, grouped hosts; `source` names the list in errors. */
export function pickHosts<
  H extends { name: string; groups: readonly string[]; tags?: Readonly<Record<string, string>> },
>(all: readonly H[], selector: string, source: string): H[] {
  const items = selector.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new BootstrapError('INVALID_REQUEST', `invalid selector ${JSON.stringify(selector)}: empty item`, {
      selector,
    });
  }
  const picked = new Set<string>();
  for (const item of items) {
    if (item === 'all') {
      for (const host of all) picked.add(host.name);
    } else if (item.startsWith('group:')) {
      const group = item.slice('group:'.length);
      const members = all.filter((host) => host.groups.includes(group));
      if (members.length === 0) {
        throw new BootstrapError(
          'UNKNOWN_SERVER',
          `no host of ${source} is in group ${JSON.stringify(group)}`,
          {
            selector,
            group,
          },
        );
      }
      for (const host of members) picked.add(host.name);
    } else if (item.startsWith('tag:')) {
      const eq = item.indexOf('=');
      const key = item.slice('tag:'.length, eq < 0 ? undefined : eq);
      if (eq < 0 || key === '')
        throw new BootstrapError(
          'INVALID_REQUEST',
          `invalid selector item ${JSON.stringify(item)}: expected tag:KEY=VALUE`,
          {
            selector,
          },
        );
      const value = item.slice(eq + 1);
      const members = all.filter(
        (host) => host.tags !== undefined && Object.hasOwn(host.tags, key) && host.tags[key] === value,
      );
      if (members.length === 0) {
        throw new BootstrapError('UNKNOWN_SERVER', `no host of ${source} carries tag ${key}=${value}`, {
          selector,
          tag: key,
          value,
        });
      }
      for (const host of members) picked.add(host.name);
    } else if (all.some((host) => host.name === item)) {
      // SPEC 3.1: a host name picks that host, also where a group bears the same name.
      picked.add(item);
    } else if (all.some((host) => host.groups.includes(item))) {
      // A bare group name, as Ansible takes it, where no host bears that name.
      for (const host of all) if (host.groups.includes(item)) picked.add(host.name);
    } else {
      throw new BootstrapError(
        'UNKNOWN_SERVER',
        `unknown server ${JSON.stringify(item)} (not in ${source})`,
        {
          server: item,
          selector,
        },
      );
    }
  }
  const hosts = all.filter((host) => picked.has(host.name));
  if (hosts.length === 0) {
    throw new BootstrapError('INVALID_REQUEST', `selector ${JSON.stringify(selector)} picks no host`, {
      selector,
    });
  }
  return hosts;
}
