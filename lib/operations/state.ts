import { parseIni, stringifyIni } from '../config/ini-file.ts';
import { KEY_PATTERN } from '../config/names.ts';
import { nameRecord } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';

/** `server.ini`'s `[server]` section (SPEC 2.2). */
export interface ServerState {
  mode?: string;
  role?: string;
  provisioned_at?: string;
  updated_at?: string;
  last_operation?: string;
}

/** `[state]` of `products/<product>.ini`. */
export interface ProductStateFields {
  version?: string;
  status?: string;
  updated_at?: string;
  last_operation?: string;
}

export interface ProductFile {
  /** Key → value (no prototype: any key is only a key). */
  config: Record<string, string>;
  state: ProductStateFields;
}

const SERVER_FIELDS = ['mode', 'role', 'provisioned_at', 'updated_at', 'last_operation'] as const;
const STATE_FIELDS = ['version', 'status', 'updated_at', 'last_operation'] as const;

function pick<K extends string>(
  fields: readonly K[],
  section: Record<string, string> | undefined,
): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const field of fields) {
    const value = section?.[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

export function parseServerIni(text: string | null): ServerState {
  return text === null ? {} : pick(SERVER_FIELDS, parseIni(text)['server']);
}

export function renderServerIni(state: ServerState): string {
  return stringifyIni({ server: pick(SERVER_FIELDS, state as Record<string, string>) });
}

/**
 * A product's state file. A `[config]` key that is no key name (SPEC 2.1) is a CONFIG_ERROR
 * naming the file: product.set never writes one, and each key becomes a hook's
 * `BOOTSTRAP_CFG_<KEY>` variable, whose name must be a name and nothing else.
 */
export function parseProductIni(text: string | null, file = 'products/<product>.ini'): ProductFile {
  if (text === null) return { config: nameRecord(), state: {} };
  const doc = parseIni(text);
  const config = Object.entries(doc['config'] ?? {});
  for (const [key] of config) {
    if (!KEY_PATTERN.test(key))
      throw new BootstrapError('CONFIG_ERROR', `${file}: [config] ${JSON.stringify(key)} is not a key name`, {
        file,
        section: 'config',
        key,
      });
  }
  return { config: nameRecord(config), state: pick(STATE_FIELDS, doc['state']) };
}

export function renderProductIni(file: ProductFile): string {
  return stringifyIni({
    config: file.config,
    state: pick(STATE_FIELDS, file.state as Record<string, string>),
  });
}
