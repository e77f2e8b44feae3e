/**
 * Which known name an unknown one was probably meant to be: the nearest by edit distance
 * (insertions, deletions, substitutions and the swap of two neighbours), when it is close enough
 * to be a typo. Used where a key no schema knows is reported, so that the message says what to
 * write instead (`adress` → `address`); `sectionError` makes the whole CONFIG_ERROR of an inventory
 * section (a host's, a source's) that failed its schema.
 */
import type * as z from 'zod';
import { type BootstrapError, configError } from '../errors.ts';

/** Edits between `a` and `b` (optimal string alignment: a swap of neighbours counts one). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known name nearest to `name` (case aside), when it is at most two edits away and no other
 * is as near; undefined otherwise.
 */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  let tied = false;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
      tied = false;
    } else if (distance === bestDistance) tied = true;
  }
  return tied ? undefined : best;
}

/** A CONFIG_ERROR's text for a key none of `known` is: `unknown key`, and the one probably meant. */
export function unknownKeyMessage(key: string, known: Iterable<string>): string {
  const near = nearestName(key, known);
  return near === undefined ? 'unknown key' : `unknown key (did you mean ${near}?)`;
}

/**
 * The CONFIG_ERROR of a section that failed its schema, from zod's first issue: an unknown key
 * (with the known name it was probably meant to be), or a bad value with what was given. `where`
 * names the section a key's value came from (a host's from `[defaults]`); by default `section`.
 */
export function sectionError(
  file: string,
  section: string,
  issue: z.core.$ZodIssue,
  entries: Record<string, string>,
  known: Iterable<string>,
  where: (key: string) => string = () => section,
): BootstrapError {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return configError(file, section, key || null, unknownKeyMessage(key, known));
  }
  const key = String(issue.path[0] ?? '');
  return configError(
    file,
    where(key),
    key || null,
    `${issue.message}, got ${JSON.stringify(entries[key] ?? '')}`,
  );
}
