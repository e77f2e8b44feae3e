#!/usr/bin/env node
// The CLI from a checkout: TypeScript sources run through tsx. `npm run build` makes a
// self-contained dist/cloudiq-bootstrap.mjs for servers.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lib/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
