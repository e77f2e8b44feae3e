/**
 * The INI inventory of SPEC 3.1: `[defaults]` merged under every `[host:NAME]`, validated with
 * zod, each problem a `CONFIG_ERROR` naming the file, the section and the key. Local paths
 * (`identity`, `known_hosts`) have `~` expanded and are taken relative to the inventory's
 * folder; paths on the host (`state_dir`, `config_path`) must be absolute.
 *
 * What one host's own section gets wrong (a value, an unknown key, a missing `address` or
 * `instance_id`, a `jump` to no host) is kept with that host (`problem`) rather than refusing the
 * file: in a fleet of thousands one typo must not stop every run and every scheduled heartbeat.
 * Such a host is still listed and selected, and fails with that CONFIG_ERROR, unreached, when it
 * is a target (hostConfigError). What is not one host's stays the file's: the INI's syntax, a
 * section or key given twice, `[defaults]`, `[source:…]`, unknown sections, and what decides
 * what a selector picks — a host's name and its `groups` (a host whose groups are unknown could
 * be missed by `group:NAME` without a word), and so too an unknown key that may have been meant
 * as `groups` (`group = edge`).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { BootstrapError, configError, type ErrorBody } from '../errors.ts';
import { homeFor } from '../transport/ssh/home.ts';
import { type DynamicSource, parseSources } from './dynamic-sources.ts';
import { type IniDocument, parseIni } from './ini-file.ts';
import { NAME_PATTERN } from './names.ts';
import { editDistance, sectionError } from './near-names.ts';
import { nameRecord, ownValue } from './records.ts';

/** Host names: like product names, upper case and (v2) dots allowed (`web-1.eu`). */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** A `jump =` that is a bare word names a host of the inventory; one with a dot may be a DNS name. */
const BARE_WORD = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const ADDRESS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[?[0-9A-Fa-f:.]+\]?)$/;
const JUMP =
  /^(?:[A-Za-z0-9._][A-Za-z0-9._-]{0,31}@)?(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const REMOTE_PATH = /^\/[^\0-\x1f\x7f]*$/;
const SSH_CONFIG_ELSEWHERE = 'belongs to [defaults]: one ssh config for the inventory';

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
    /**
     * The CONFIG_ERROR of this host's own section, kept instead of refusing the file; the
     * fields hold what could be read (the rest unset). Thrown when the host is a target.
     */
    problem?: ErrorBody;
    /** With `problem`: the keys of its section that are not valid even on their own (left unset). */
    unreadable?: string[];
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
    // In a host's section it is that host's problem (staticHost).
    if (section.startsWith('source:') && doc[section] && 'ssh_config' in doc[section])
      throw configError(file, section, 'ssh_config', SSH_CONFIG_ELSEWHERE);
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
    hosts.push(staticHost(name, defaults, entries, file, section));
  }
  checkHosts(hosts, file, doc);
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
  return hostOf(name, localPaths(fields, file));
}

function hostOf(name: string, fields: HostFields): InventoryHost {
  return { name, ...fields, address: fields.address ?? (fields.transport === 'ssh' ? name : null) };
}

/**
 * A `[host:NAME]` of the file: `inventoryHost`, but what its own section gets wrong is kept with
 * it (`problem`). Its groups are checked first and refuse the file: they decide what a selector
 * picks, as its name does.
 */
function staticHost(
  name: string,
  defaults: Record<string, string>,
  entries: Record<string, string>,
  file: string,
  section: string,
): InventoryHost {
  // A key no host has that may have been meant as `groups` (`group`, `grups`, a source's
  // `groups_from`) would leave the host out of `group:NAME` without a word: the file's error.
  for (const key of Object.keys(entries)) {
    if (Object.hasOwn(hostKeysSchema.shape, key) || !meantAsGroups(key)) continue;
    throw configError(
      file,
      section,
      key,
      `unknown key (did you mean groups?): a host's groups decide what a selector picks`,
    );
  }
  const groups = ownValue(entries, 'groups');
  if (groups !== undefined) {
    const read = hostKeysSchema.shape.groups.safeParse(groups);
    if (!read.success)
      throw configError(
        file,
        section,
        'groups',
        `${read.error.issues[0]?.message ?? 'invalid'}, got ${JSON.stringify(groups)}`,
      );
  }
  try {
    if (ownValue(entries, 'ssh_config') !== undefined)
      throw configError(file, section, 'ssh_config', SSH_CONFIG_ELSEWHERE);
    return inventoryHost(name, defaults, entries, file, section);
  } catch (error) {
    if (
      !(error instanceof BootstrapError) ||
      error.code !== 'CONFIG_ERROR' ||
      error.details['section'] !== section
    )
      throw error;
    return { ...readableHost(name, defaults, entries, file), problem: error.toJSON() };
  }
}

/** An unknown key that reads as a try at `groups`: it says `group`, or is two edits from `groups`. */
function meantAsGroups(key: string): boolean {
  const lower = key.toLowerCase();
  return lower.includes('group') || lower.includes('grp') || editDistance(lower, 'groups') <= 2;
}

/** What can be read of a host whose section is malformed: each key that is valid on its own. */
function readableHost(
  name: string,
  defaults: Record<string, string>,
  entries: Record<string, string>,
  file: string,
): InventoryHost {
  const shape = hostKeysSchema.shape;
  const merged = nameRecord([...Object.entries(defaults), ...Object.entries(entries)]);
  const known = Object.entries(merged).filter(([key]) => Object.hasOwn(shape, key));
  const valid = ([key, value]: [string, string]) =>
    (shape[key as keyof typeof shape] as z.ZodType).safeParse(value).success;
  const fields = hostSchema.parse(nameRecord(known.filter(valid)));
  let paths: HostFields;
  try {
    paths = localPaths(fields, file);
  } catch {
    paths = { ...fields, identity: null, knownHosts: null };
  }
  return { ...hostOf(name, paths), unreadable: known.filter((entry) => !valid(entry)).map(([key]) => key) };
}

/** The CONFIG_ERROR kept with a host whose own section is malformed (SPEC 3.1); none for a sound one. */
export function hostConfigError(host: InventoryHost): BootstrapError | undefined {
  const problem = host.problem;
  return problem && new BootstrapError(problem.code, problem.message, { ...problem.details });
}

/** A host's transport as `GET /servers` lists it: null when its section's `transport` is malformed. */
export function listedTransport(host: InventoryHost): InventoryHost['transport'] | null {
  return host.problem && host.unreadable?.includes('transport') ? null : host.transport;
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
  // A bad value inherited from [defaults] is reported there.
  throw sectionError(
    file,
    section,
    result.error.issues[0]!,
    entries,
    Object.keys(hostKeysSchema.shape),
    (key) => (own.has(key) ? section : 'defaults'),
  );
}

function localPath(path: string, file: string): string {
  const home = path === '~' || path.startsWith('~/') ? homeFor(path) + path.slice(1) : path;
  return isAbsolute(home) ? home : resolve(dirname(resolve(file)), home);
}

function localPaths(fields: HostFields, file: string): HostFields {
  const expand = (path: string | null) => (path === null ? null : localPath(path, file));
  return { ...fields, identity: expand(fields.identity), knownHosts: expand(fields.knownHosts) };
}

/**
 * What a host's section means beside the others': an ssm host's `instance_id`, and its `jump`
 * (another host, reached over ssh, without a loop). Each problem is kept with its host; a jump
 * through a host kept with a problem fails as that host does (sshEndpointForHost). A bare-word
 * `jump` that [defaults] gives every host, naming no host, is [defaults]'s error: the file's.
 */
function checkHosts(hosts: InventoryHost[], file: string, doc: IniDocument): void {
  const byName = new Map(hosts.map((host) => [host.name, host]));
  const keep = (host: InventoryHost, key: string, problem: string) => {
    host.problem ??= configError(file, `host:${host.name}`, key, problem).toJSON();
  };
  for (const host of hosts) {
    if (host.problem) continue;
    if (host.transport === 'ssm' && host.instanceId === null) {
      keep(host, 'instance_id', 'required for transport = ssm');
    } else if (host.jump !== null && BARE_WORD.test(host.jump) && !byName.has(host.jump)) {
      // A bare word is meant as one of our hosts: a typo must not send the connection elsewhere.
      const problem = `no [host:${host.jump}] in this inventory (for a host outside it, write USER@HOST or its full name)`;
      if (ownValue(doc[`host:${host.name}`] ?? {}, 'jump') === undefined)
        throw configError(file, 'defaults', 'jump', problem);
      keep(host, 'jump', problem);
    }
  }
  // A jump naming a host of the inventory goes through it; follow the chain to refuse loops.
  // Problems found here are kept after the walk, so that every host of a loop reports its own.
  const chains = new Map<InventoryHost, string>();
  for (const host of hosts) {
    if (host.problem) continue;
    const seen = new Set([host.name]);
    for (let hop = host.jump; hop !== null && byName.has(hop); hop = byName.get(hop)!.jump) {
      const next = byName.get(hop)!;
      if (next.problem) break;
      if (next.transport !== 'ssh') {
        chains.set(host, `${hop} is not reached over ssh`);
        break;
      }
      if (seen.has(hop)) {
        chains.set(host, `jump hosts loop through ${hop}`);
        break;
      }
      seen.add(hop);
    }
  }
  for (const [host, problem] of chains) keep(host, 'jump', problem);
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
