import { relative } from 'node:path';
import { demoInventoryPath, ensureDemoFleet, ensureDemoHost } from '../demo/demo-fleet.ts';
import { runCommand } from '../operations/index.ts';
import type { CommandRequest } from '../operations/types.ts';
import { createLocalTransport } from '../transport/local.ts';
import type { CliIo } from './io.ts';
import { formatHuman } from './output.ts';

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
  const steps: CommandRequest[] = [
    { command: 'server.provision', role: 'edge' },
    { command: 'product.set', product: 'haproxy', values: { maxconn: '4096', frontend_port: '8080' } },
    { command: 'product.upgrade', product: 'deepfiler', version: '3.2.1' },
    { command: 'heartbeat.get' },
    { command: 'heartbeat.appstack' },
  ];
  for (const request of steps) {
    const args = Object.entries(request)
      .filter(([k]) => k !== 'command')
      .map(([, v]) =>
        typeof v === 'object'
          ? Object.entries(v)
              .map(([k, x]) => `${k}=${x}`)
              .join(' ')
          : String(v),
      )
      .join(' ');
    io.stdout(`\n$ cloudiq-bootstrap ${request.command} ${args}\n`);
    io.stdout(`${formatHuman(request.command, await runCommand(host, request))}\n`);
  }
  ensureDemoFleet();
  const inventory = relative(process.cwd(), demoInventoryPath()) || demoInventoryPath();
  io.stdout(
    `\nTry it yourself: npx cloudiq-bootstrap --config ${demo.configPath} --state-dir ${demo.stateDir} heartbeat.get\n` +
      `A fleet run over the demo fleet (web-1, web-2, worker-1): npx cloudiq-bootstrap --inventory ${inventory} --select all heartbeat.get\n`,
  );
  return 0;
}
