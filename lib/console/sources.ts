import { readdirSync, readFileSync } from 'node:fs';

/** The files of the page: everything in assets/ but the type declarations the tests use (bundle.mjs agrees). */
const isServedAsset = (name: string): boolean => !name.endsWith('.d.ts');

function readAssets(): Readonly<Record<string, string>> {
  const dir = new URL('./assets/', import.meta.url);
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).filter(isServedAsset).sort()) {
    files[name] = readFileSync(new URL(name, dir), 'utf8');
  }
  return files;
}

/**
 * The console's static files (lib/console/assets/) by name, as text. Bundles replace this module
 * with the texts inlined (scripts/bundle.mjs), so the API function serves the page from its own
 * bundle, with no file beside it.
 */
export const CONSOLE_SOURCES: Readonly<Record<string, string>> = readAssets();
