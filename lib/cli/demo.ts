import { relative } from 'node:path';
import { demoInventoryPath, ensureDemoFleet, ensureDemoHost } from '../demo/demo-fleet.ts';
import { runCommand } from '../operations/index.ts';
import { createLocalTransport } from '../transport/local.ts';
import { parseCli, toRequest } from './args.ts';
import type { CliIo } from './io.ts';
import { formatHuman } from './output.ts';
import { shellLine } from './shell-word.ts';

/** The demo's steps, as command lines: each is printed as it can be run, and run as it reads. */
const STEPS: readonly (readonly string[])[] = [
  ['server.provision', '--role', 'edge'],
  ['product.set', 'haproxy', 'maxconn=4096', 'frontend_port=8080'],
  ['product.upgrade', 'deepfiler', '3.2.1'],
  ['heartbeat.get'],
  ['heartbeat.appstack'],
];

/** A path as the caller typed it best: relative to the working directory when under it. */
function shortPath(path: string): string {
  const near = relative(process.cwd(), path);
  return near === '' || near.startsWith('..') ? path : near;
}

/** `cloudiq-bootstrap demo`: provision a demo host, set a value, upgrade a product, print the heartbeat. */
export async function runDemo(io: CliIo): Promise<number> {
  const demo = ensureDemoHost('demo-1', ['demo']);
  const host = {
    name: demo.name,
    transport: createLocalTransport(),
    configPath: demo.configPath,
    stateDir: demo.stateDir,
  };
  io.stdout(`Demo host: bootstrap.ini ${demo.configPath}, state ${demo.stateDir}\n`);
  // The demo host's flags on every line, so each runs as shown (from this directory).
  const on = ['--config', shortPath(demo.configPath), '--state-dir', shortPath(demo.stateDir)];
  for (const step of STEPS) {
    const argv = [...on, ...step];
    const { command, positionals, options } = parseCli(argv);
    const request = toRequest(command ?? '', positionals, options);
    io.stdout(`\n$ npx cloudiq-bootstrap ${shellLine(argv)}\n`);
    io.stdout(`${formatHuman(request.command, await runCommand(host, request))}\n`);
  }
  ensureDemoFleet();
  const inventory = relative(process.cwd(), demoInventoryPath()) || demoInventoryPath();
  io.stdout(
    `\nTry it yourself: npx cloudiq-bootstrap ${shellLine([...on, 'heartbeat.get'])}\n` +
      `A fleet run over the demo fleet (web-1, web-2, worker-1): npx cloudiq-bootstrap ${shellLine(['--inventory', inventory, '--select', 'all', 'heartbeat.get'])}\n`,
  );
  return 0;
}
