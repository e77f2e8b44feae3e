// The import graph of the project's own .ts files, read from their text. A regex is enough here
// (and needs no compiler run): the house style writes every import on `import … from '…'` or
// `export … from '…'` with a relative path and its `.ts` extension.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Module path (relative to the root, `/`-separated) → the relative modules it imports. */
export type ImportGraph = Map<string, string[]>;

const IMPORT = /^\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/gm;
const SIDE_EFFECT = /^\s*import\s+['"]([^'"]+)['"]/gm;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Reads every .ts file under `dirs` (relative to `root`) and returns who imports whom. */
export function readImportGraph(root: string, dirs: readonly string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const dir of dirs) {
    for (const file of listTs(join(root, dir))) {
      const text = readFileSync(file, 'utf8');
      const from = relative(root, file).split('\\').join('/');
      const targets = new Set<string>();
      for (const pattern of [IMPORT, SIDE_EFFECT]) {
        for (const match of text.matchAll(pattern)) {
          const spec = match[1]!;
          if (!spec.startsWith('.')) continue;
          targets.add(
            relative(root, resolve(dirname(file), spec))
              .split('\\')
              .join('/'),
          );
        }
      }
      graph.set(from, [...targets].sort());
    }
  }
  return graph;
}

/**
 * The folders' own graph: `lib/<folder>` (with everything below it: `lib/fleet/steps` is part of
 * `lib/fleet`), or the top folder elsewhere (`functions`, `infra`), → the folders it imports.
 * Imports within a folder are left out; type imports count like any other.
 */
export function folderGraph(graph: ImportGraph): ImportGraph {
  const folderOf = (path: string): string => {
    const parts = path.split('/');
    return parts[0] === 'lib' && parts.length > 2 ? `lib/${parts[1]}` : parts[0]!;
  };
  const folders = new Map<string, Set<string>>();
  for (const [from, targets] of graph) {
    const source = folderOf(from);
    const into = folders.get(source) ?? new Set<string>();
    folders.set(source, into);
    for (const to of targets) if (graph.has(to) && folderOf(to) !== source) into.add(folderOf(to));
  }
  return new Map([...folders].map(([folder, targets]) => [folder, [...targets].sort()]));
}

/** Every import cycle in the graph, each as the modules on it (first repeated at the end). */
export function findCycles(graph: ImportGraph): string[][] {
  // Tarjan's strongly connected components: a component of more than one module (or a module
  // importing itself) is a cycle; one path through it is shown.
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indices.get(next)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfLoop = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfLoop) components.push(component);
    }
  };
  for (const node of [...graph.keys()].sort()) if (!indices.has(node)) visit(node);
  return components.map((component) => pathThrough(graph, new Set(component)));
}

/** One cycle through a strongly connected component, found by walking inside it. */
function pathThrough(graph: ImportGraph, members: Set<string>): string[] {
  const start = [...members].sort()[0]!;
  const seen = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(seen.get(path[0]!)!);
        return [...path, start];
      }
      if (!seen.has(next)) {
        seen.set(next, node);
        queue.push(next);
      }
    }
  }
  return [...members];
}
