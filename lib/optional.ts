/**
 * Optional fields under `exactOptionalPropertyTypes`: `{ timeoutMs: undefined }` is not a
 * `{ timeoutMs?: number }`, so a field that may be undefined must be left out, not set.
 * `...present({ timeoutMs, signal })` keeps only the fields that have a value.
 */
export type Present<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

/** The fields of `fields` whose value is not `undefined` (a new object; `null` is kept). */
export function present<T extends object>(fields: T): Present<T> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) kept[key] = value;
  }
  return kept as Present<T>;
}
