/**
 * How the commands' arguments are read where a row cannot say it in a line: product.set's pairs
 * from a command line (`KEY=VALUE…`) or a JSON body (`{ KEY: VALUE, … }`), and a version in a
 * body (`/fleet/upgrade` takes the same).
 */
import * as z from 'zod';
import { VERSION_PATTERN } from '../config/names.ts';
import { nameRecord } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';

/** A version in a request body (SPEC 2.1's pattern); `/fleet/upgrade` takes the same. */
export const versionField = z.string().regex(VERSION_PATTERN, 'a version: letters, digits and . _ + ~ : -');

/**
 * `{ KEY: VALUE, … }`: values are strings; keys and values are the host's to judge (INVALID_KEY/VALUE).
 * Read into a record without a prototype, every own key kept: zod's `record` drops a `__proto__`
 * key silently, and a key must be judged, never lost.
 */
export const configBodySchema = z
  .custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    'an object of KEY: VALUE',
  )
  .transform((body, context) => {
    const values = nameRecord<string>();
    for (const [key, value] of Object.entries(body)) {
      if (typeof value === 'string') values[key] = value;
      else context.issues.push({ code: 'custom', message: 'expected a string', path: [key], input: value });
    }
    return values;
  })
  .refine((values) => Object.keys(values).length > 0, 'at least one KEY: VALUE');

/** `product.set`'s pairs: `KEY=VALUE`, each key once. */
export function parsePairs(pairs: readonly string[]): Record<string, string> {
  const values: Record<string, string> = nameRecord();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0)
      throw new BootstrapError('INVALID_REQUEST', `expected KEY=VALUE, got ${JSON.stringify(pair)}`, {
        command: 'product.set',
      });
    const key = pair.slice(0, eq);
    if (Object.hasOwn(values, key))
      throw new BootstrapError('INVALID_REQUEST', `key ${key} given twice`, { command: 'product.set', key });
    values[key] = pair.slice(eq + 1);
  }
  return values;
}
