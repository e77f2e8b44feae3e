#!/usr/bin/env node
// The CLI from a checkout. The bundle `npm install` builds (dist/cli/, split so that a start
// parses only what it runs) starts in about 0.15 s; compiling the TypeScript sources through tsx
// takes seconds. The bundle runs only while it is newer than every source (bin/fresh-bundle.js),
// else the sources do, so an edited checkout never runs stale code. The build also writes the
// same CLI as one file for servers (dist/cloudiq-bootstrap.mjs).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshBundle } from './fresh-bundle.js';

const bundle = freshBundle(fileURLToPath(new URL('..', import.meta.url)));
if (bundle !== null) {
  // The bundle runs main() and sets process.exitCode itself.
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../lib/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
