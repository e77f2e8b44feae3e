/**
 * Records keyed by names that come from files and requests (products, roles, keys, sections,
 * hosts). They have no prototype, so a name such as `constructor`, `toString` or `__proto__` is
 * only ever a key: never an inherited built-in, never a prototype to set.
 */
export function nameRecord<V>(entries: Iterable<readonly [string, V]> = []): Record<string, V> {
  const out = Object.create(null) as Record<string, V>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/** A name-keyed record's own value for `key` (undefined for anything inherited). */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
