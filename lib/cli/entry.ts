// The CLI as a program: what scripts/bundle.mjs bundles (dist/cloudiq-bootstrap.mjs, dist/cli/).
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
