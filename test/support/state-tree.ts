import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A tree's entries (kind, mode, a file's bytes), without lib/, the host code cache any program may
 * keep (SPEC 2.2): not state; null when the root is absent. A fifo or socket is only looked at,
 * never opened (a read would block). Two readings compare equal when nothing in the tree changed.
 */
export function stateTree(root: string): Record<string, string> | null {
  if (!existsSync(root)) return null;
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const key = rel === '' ? name : `${rel}/${name}`;
      if (key === 'lib') continue;
      const path = join(dir, name);
      const st = lstatSync(path);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[key] = `dir ${mode}`;
        walk(path, key);
      } else if (st.isFile()) out[key] = `file ${mode} ${readFileSync(path).toString('base64')}`;
      else if (st.isSymbolicLink()) out[key] = `symlink ${readlinkSync(path)}`;
      else out[key] = `${st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'other'} ${mode}`;
    }
  };
  walk(root, '');
  return out;
}
