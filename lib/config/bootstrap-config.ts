import { configError } from '../errors.ts';
import { parseIni } from './ini-file.ts';
import { KEY_PATTERN, MODE_PATTERN, NAME_PATTERN } from './names.ts';
import { unknownKeyMessage } from './near-names.ts';
import { nameRecord } from './records.ts';

/** Default path of the static configuration on a host (SPEC 2.1). */
export const DEFAULT_CONFIG_PATH = '/etc/cloudiq/bootstrap.ini';
/** Default state directory on a host (SPEC 2.2). */
export const DEFAULT_STATE_DIR = '/var/bootstrap';
export const DEFAULT_HOOK_TIMEOUT = 900;

export type CheckKind = 'process' | 'systemd' | 'tcp' | 'http' | 'exec';

export interface Check {
  /** Exactly as written in `check =`, trimmed: how results name it. */
  raw: string;
  kind: CheckKind;
  /** What follows the kind: a process name, a unit, `HOST:PORT`, a URL or a path. */
  target: string;
}

export interface ProductConfig {
  name: string;
  keys: string[];
  provision: string | null;
  upgrade: string | null;
  checks: Check[];
}

export interface BootstrapConfig {
  file: string;
  server: {
    modes: string[];
    initialMode: string;
    provisionedMode: string | null;
    callbackUrl: string | null;
    hookTimeout: number;
  };
  /** Role name → products in provisioning order (no prototype: any name is only a key). */
  roles: Record<string, string[]>;
  /** Product name → its config, in file order (no prototype: any name is only a key). */
  products: Record<string, ProductConfig>;
}

const SERVER_KEYS = ['modes', 'initial_mode', 'provisioned_mode', 'callback_url', 'hook_timeout'];
const ROLE_KEYS = ['products'];
const PRODUCT_KEYS = ['keys', 'provision', 'upgrade', 'check'];

function list(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * Parses and validates `bootstrap.ini` text. Every problem is a `CONFIG_ERROR` whose details name
 * the file, the section and the key; unknown sections and keys are refused too, so a typo never
 * passes silently.
 */
export function parseBootstrapConfig(text: string, file: string): BootstrapConfig {
  // A fleet's hosts of one role hold the same bootstrap.ini: each distinct file is parsed once per
  // process, and every host that holds it shares that one reading (frozen: nobody can change it).
  const key = `${file}\0${text}`;
  const known = parsedConfigs.get(key);
  if (known) return known;
  const config = deepFreeze(parseConfigText(text, file));
  if (text.length <= MAX_REMEMBERED_TEXT) {
    if (parsedConfigs.size >= MAX_REMEMBERED) parsedConfigs.delete(parsedConfigs.keys().next().value!);
    parsedConfigs.set(key, config);
  }
  return config;
}

/** Readings kept, and the largest file kept: a fleet has a few distinct files, each a few KiB. */
const MAX_REMEMBERED = 32;
const MAX_REMEMBERED_TEXT = 64 * 1024;
const parsedConfigs = new Map<string, BootstrapConfig>();

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function parseConfigText(text: string, file: string): BootstrapConfig {
  const doc = parseIni(text, file, { once: true });
  const server = doc['server'];
  if (!server) throw configError(file, 'server', null, 'missing section');

  for (const section of Object.keys(doc)) {
    if (section === '')
      throw configError(file, null, Object.keys(doc[''] ?? {})[0] ?? null, 'key outside any section');
    if (section !== 'server' && !/^(role|product):/.test(section)) {
      throw configError(
        file,
        section,
        null,
        'unknown section (expected [server], [role:NAME] or [product:NAME])',
      );
    }
  }
  for (const key of Object.keys(server)) {
    if (!SERVER_KEYS.includes(key))
      throw configError(file, 'server', key, unknownKeyMessage(key, SERVER_KEYS));
  }

  const modes = list(server['modes']);
  if (modes.length === 0)
    throw configError(file, 'server', 'modes', 'required: a comma-separated list of modes');
  for (const mode of modes) {
    if (!MODE_PATTERN.test(mode))
      throw configError(file, 'server', 'modes', `invalid mode name ${JSON.stringify(mode)}`);
  }
  const initialMode = server['initial_mode'] ?? modes[0]!;
  if (!modes.includes(initialMode))
    throw configError(file, 'server', 'initial_mode', `${initialMode} is not in modes`);
  const provisionedMode = server['provisioned_mode'] ?? null;
  if (provisionedMode !== null && !modes.includes(provisionedMode)) {
    throw configError(file, 'server', 'provisioned_mode', `${provisionedMode} is not in modes`);
  }
  const callbackUrl = server['callback_url'] ?? null;
  if (callbackUrl !== null && !/^https?:\/\/[^\s]+$/.test(callbackUrl)) {
    throw configError(file, 'server', 'callback_url', 'not an http(s) URL');
  }
  const hookTimeoutText = server['hook_timeout'];
  let hookTimeout = DEFAULT_HOOK_TIMEOUT;
  if (hookTimeoutText !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(hookTimeoutText)) {
      throw configError(file, 'server', 'hook_timeout', 'not a whole number of seconds (1 or more)');
    }
    hookTimeout = Number(hookTimeoutText);
  }

  const products: Record<string, ProductConfig> = nameRecord();
  for (const [section, entries] of Object.entries(doc)) {
    if (!section.startsWith('product:')) continue;
    const name = section.slice('product:'.length);
    if (!NAME_PATTERN.test(name))
      throw configError(file, section, null, `invalid product name ${JSON.stringify(name)}`);
    products[name] = parseProduct(file, section, name, entries);
  }

  const roles: Record<string, string[]> = nameRecord();
  for (const [section, entries] of Object.entries(doc)) {
    if (!section.startsWith('role:')) continue;
    const name = section.slice('role:'.length);
    if (!NAME_PATTERN.test(name))
      throw configError(file, section, null, `invalid role name ${JSON.stringify(name)}`);
    for (const key of Object.keys(entries)) {
      if (!ROLE_KEYS.includes(key)) throw configError(file, section, key, unknownKeyMessage(key, ROLE_KEYS));
    }
    const members = list(entries['products']);
    if (members.length === 0)
      throw configError(file, section, 'products', 'required: a comma-separated list of products');
    for (const product of members) {
      if (!products[product])
        throw configError(file, section, 'products', `unknown product ${JSON.stringify(product)}`);
    }
    if (new Set(members).size !== members.length)
      throw configError(file, section, 'products', 'a product is listed twice');
    roles[name] = members;
  }

  return { file, server: { modes, initialMode, provisionedMode, callbackUrl, hookTimeout }, roles, products };
}

function parseProduct(
  file: string,
  section: string,
  name: string,
  entries: Record<string, string>,
): ProductConfig {
  for (const key of Object.keys(entries)) {
    if (!PRODUCT_KEYS.includes(key))
      throw configError(file, section, key, unknownKeyMessage(key, PRODUCT_KEYS));
  }
  const keys = list(entries['keys']);
  for (const key of keys) {
    if (!KEY_PATTERN.test(key))
      throw configError(file, section, 'keys', `invalid key name ${JSON.stringify(key)}`);
  }
  const hook = (key: 'provision' | 'upgrade'): string | null => {
    const path = entries[key];
    if (path === undefined || path === '') return null;
    if (!path.startsWith('/') || /[\0-\x1f]/.test(path))
      throw configError(file, section, key, 'not an absolute path');
    return path;
  };
  const checks = list(entries['check']).map((raw) => parseCheck(file, section, raw));
  return { name, keys, provision: hook('provision'), upgrade: hook('upgrade'), checks };
}

/** One `check =` item: `process:NAME`, `systemd:UNIT`, `tcp:HOST:PORT`, `http:URL` or `exec:PATH`. */
export function parseCheck(file: string, section: string, raw: string): Check {
  const bad = (why: string) =>
    configError(file, section, 'check', `bad check ${JSON.stringify(raw)}: ${why}`);
  const colon = raw.indexOf(':');
  if (colon <= 0) throw bad('expected KIND:TARGET');
  const kind = raw.slice(0, colon);
  const target = raw.slice(colon + 1);
  if (/[\0-\x1f\x7f]/.test(raw)) throw bad('control characters');
  switch (kind) {
    case 'process':
      if (target === '' || /\s/.test(target) || target.includes('/')) throw bad('expected a process name');
      return { raw, kind, target };
    case 'systemd':
      if (!/^[A-Za-z0-9:_.@\\-]+$/.test(target)) throw bad('expected a unit name');
      return { raw, kind, target };
    case 'tcp': {
      const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(target);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) throw bad('expected HOST:PORT');
      return { raw, kind, target };
    }
    case 'http':
    case 'https': {
      // `http://host/path` reads as kind `http` with target `//host/path`; `http:URL` names a URL.
      const url = target.startsWith('//') ? `${kind}:${target}` : target;
      if (!/^https?:\/\/[^\s'"`\\]+$/.test(url)) throw bad('expected an http(s) URL');
      return { raw, kind: 'http', target: url };
    }
    case 'exec':
      if (!target.startsWith('/') || /\s/.test(target)) throw bad('expected an absolute path');
      return { raw, kind, target };
    default:
      throw bad(`unknown kind ${JSON.stringify(kind)}`);
  }
}
