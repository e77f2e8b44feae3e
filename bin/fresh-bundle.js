// Whether the checkout's CLI bundle (dist/cli/: cloudiq-bootstrap.mjs and the chunks it loads,
// `npm run build:cli`, built on `npm install` by `prepare`) may run instead of the TypeScript
// sources: only when it is newer than every file it is built from (the build writes the folder
// anew, chunks and entry together). A stale bundle would run other code than the checkout holds,
// so when anything is newer, or the bundle is missing, the sources run (through tsx).
// Plain JavaScript with no imports beyond node:, so deciding costs a few milliseconds.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What the CLI bundle is built from, relative to the checkout's root. */
export const BUNDLE_INPUTS = ['lib', 'scripts/bundle.mjs', 'package.json', 'package-lock.json'];

export const BUNDLE_PATH = 'dist/cli/cloudiq-bootstrap.mjs';

function newestMtime(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted or renamed file changes its directory's mtime
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** The bundle's path when it exists and is newer than every input, else null. */
export function freshBundle(root) {
  let built;
  try {
    built = statSync(join(root, BUNDLE_PATH)).mtimeMs;
  } catch {
    return null;
  }
  for (const input of BUNDLE_INPUTS) if (newestMtime(join(root, input)) >= built) return null;
  return join(root, BUNDLE_PATH);
}
