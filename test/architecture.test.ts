// The shape of the code (README "How it works" → "Where things live"): no import cycle, no arrow
// from lib/ into functions/ or infra/, none from functions/ into infra/, and a map that names
// every folder there is. Read from the files' text, so it needs no build.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_ENTRY, cliBuildOptions } from '../scripts/bundle.mjs';
import { findCycles, folderGraph, type ImportGraph, readImportGraph } from './support/import-graph.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CODE = ['lib', 'functions', 'infra'];

/** `from → to` for every import that points the wrong way. */
function wrongWayArrows(graph: ImportGraph): string[] {
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const intoEntry = to.startsWith('functions/') || to.startsWith('infra/');
      if (from.startsWith('lib/') && intoEntry) wrong.push(`${from} → ${to}`);
      if (from.startsWith('functions/') && to.startsWith('infra/')) wrong.push(`${from} → ${to}`);
    }
  }
  return wrong;
}

/** The paths the README's map names (folders end in `/`), from its fenced block under "How it works". */
function readMap(readme: string): Set<string> {
  const section = readme.split(/^## How it works$/m)[1]?.split(/^## /m)[0] ?? '';
  const block = section.split(/^### Where things live$/m)[1]?.split('```')[1];
  assert.ok(block, 'README "How it works" has no "### Where things live" map');
  const named = new Set<string>();
  let parent = '';
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue;
    const indented = /^\s/.test(line);
    for (const part of line.trim().split(/\s{2,}/)) {
      if (!/^[\w.-]+(\/[\w.-]+)*(\/|\.ts)$/.test(part)) break;
      const path = indented ? parent + part : part;
      named.add(path);
      if (!indented) parent = path;
    }
  }
  return named;
}

function subfolders(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .filter((name) => statSync(join(ROOT, dir, name)).isDirectory())
    .map((name) => `${dir === '.' ? '' : `${dir}/`}${name}/`);
}

/** Every folder the map must name: top-level (not git-ignored or hidden), all under lib/, test/'s own. */
function foldersToMap(): string[] {
  const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .filter((line) => /^[\w.-]+\/$/.test(line.trim()))
    .map((line) => line.trim());
  const top = subfolders('.').filter((dir) => !dir.startsWith('.') && !ignored.includes(dir));
  const lib: string[] = [];
  const walk = (dir: string): void => {
    for (const sub of subfolders(dir)) {
      lib.push(sub);
      walk(sub.slice(0, -1));
    }
  };
  walk('lib');
  return [...top, ...lib, ...subfolders('test')];
}

describe('the shape of the code', () => {
  const graph = readImportGraph(ROOT, CODE);

  it('reads the imports of every module in lib/, functions/ and infra/', () => {
    assert.ok(graph.size > 100, `only ${graph.size} modules found`);
    // A sample the regex must see: a type import, a multi-line import, a re-export.
    assert.ok(graph.get('lib/transport/types.ts')?.includes('lib/host/parse.ts'));
    assert.ok(graph.get('functions/composition.ts')?.includes('lib/callback/index.ts'));
    assert.ok(graph.get('lib/transport/ssh/endpoint.ts')?.includes('lib/transport/ssh/ssh-address.ts'));
  });

  it('has no import cycle', () => {
    const cycles = findCycles(graph).map((cycle) => cycle.join(' → '));
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const withCycle: ImportGraph = new Map(graph);
    withCycle.set('lib/version.ts', ['lib/cli/main.ts']);
    const cycles = findCycles(withCycle);
    assert.equal(cycles.length, 1);
    assert.equal(cycles[0]![0], cycles[0]!.at(-1));
    assert.ok(cycles[0]!.includes('lib/version.ts') && cycles[0]!.includes('lib/cli/main.ts'));
  });

  it('has no cycle between folders, type imports included (each folder of lib/ one layer)', () => {
    const cycles = findCycles(folderGraph(graph)).map((cycle) => cycle.join(' → '));
    assert.deepEqual(cycles, [], `folders that import each other:\n${cycles.join('\n')}`);
  });

  it('finds a folder cycle made of type imports alone (the check can fail)', () => {
    // lib/fleet uses lib/operations; one type import back is enough to tie the two folders.
    assert.ok(graph.get('lib/fleet/heartbeat.ts')?.includes('lib/operations/index.ts'));
    const withTypeImport: ImportGraph = new Map(graph);
    // A module of lib/operations that nothing imports, so the arrow back makes no file-level cycle.
    withTypeImport.set('lib/operations/made-up.ts', ['lib/fleet/aggregate.ts']);
    assert.deepEqual(findCycles(withTypeImport), [], 'no file-level cycle: the folders alone make one');
    const cycles = findCycles(folderGraph(withTypeImport));
    assert.equal(cycles.length, 1);
    assert.ok(cycles[0]!.includes('lib/fleet') && cycles[0]!.includes('lib/operations'));
    // Inside one folder, sub-folder and parent may use each other (lib/fleet/steps ↔ lib/fleet).
    assert.ok(graph.get('lib/fleet/steps/plan.ts')?.includes('lib/fleet/rate.ts'));
    assert.ok(graph.get('lib/fleet/local-runs.ts')?.includes('lib/fleet/steps/plan.ts'));
  });

  it('has no import from lib/ into functions/ or infra/, and none of infra/ from functions/', () => {
    assert.deepEqual(wrongWayArrows(graph), []);
    const wrong: ImportGraph = new Map([
      ['lib/a.ts', ['functions/b.ts']],
      ['functions/b.ts', ['infra/c.ts']],
    ]);
    assert.equal(wrongWayArrows(wrong).length, 2);
  });

  it('loads packages lazily only through modules of its own, or ones the CLI leaves external', () => {
    // In a bundle split into chunks (dist/cli/), import() of a package bundled from its CommonJS
    // build yields only its `default` export; through a module of ours (as
    // lib/transport/ssm/sdk-commands.ts), esbuild keeps every named export.
    const external = new Set(cliBuildOptions(CLI_ENTRY, { outfile: 'x.mjs' }).external ?? []);
    const lazy: string[] = [];
    for (const file of graph.keys()) {
      if (!file.startsWith('lib/')) continue;
      // Without comments, which may name such an import to say why it is not there.
      const text = readFileSync(join(ROOT, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      for (const match of text.matchAll(/\bimport\(\s*'([^'.][^']*)'\s*\)/g)) {
        const name = match[1]!;
        if (!name.startsWith('node:') && !external.has(name)) lazy.push(`${file}: import('${name}')`);
      }
    }
    assert.deepEqual(lazy, []);
  });

  it('keeps only what everything uses at the root of lib/', () => {
    const rootFiles = readdirSync(join(ROOT, 'lib')).filter((name) => name.endsWith('.ts'));
    assert.deepEqual(rootFiles.sort(), ['errors.ts', 'optional.ts', 'version.ts']);
  });

  it('names every folder in the README map, and nothing that is not there', () => {
    const map = readMap(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const missing = foldersToMap().filter((dir) => !map.has(dir));
    assert.deepEqual(
      missing,
      [],
      `folders without a line in README "Where things live": ${missing.join(', ')}`,
    );
    const stale = [...map].filter((path) => {
      try {
        statSync(join(ROOT, path));
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(stale, [], `the map names what does not exist: ${stale.join(', ')}`);
  });
});
