/**
 * One measured fleet heartbeat, in a process of its own so that its CPU and peak RSS are ours
 * alone: the inventory is loaded and every host gets `heartbeat.get` + `heartbeat.appstack` from
 * one read (`runHeartbeat`) through the fleet runner, over one pooled SSH connection per host,
 * which closes as soon as that host is done (`release`, as the CLI's and Lambda's fleet runs do).
 * Prints one JSON line. bench/run.ts bundles this file the way the CLI is
 * bundled and runs it with plain `node`, so what runs is what ships.
 *
 * Argument: JSON `{ "inventory": FILE, "fanout": N, "idleTimeoutMs"?: MS }` (the pool's idle close;
 * its default when absent).
 */
import { loadInventory } from '../lib/config/inventory.ts';
import { runFleet } from '../lib/fleet/index.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import { runHeartbeat } from '../lib/operations/index.ts';
import { present } from '../lib/optional.ts';
import { createInventoryFleet } from '../lib/orchestrate/inventory-fleet.ts';
import { SshPool } from '../lib/transport/ssh/index.ts';
import type { Transport } from '../lib/transport/types.ts';

export interface HeartbeatRunResult {
  hosts: number;
  succeeded: number;
  failed: number;
  healthy: number;
  /** From loading the inventory to the last connection closed. */
  wallMs: number;
  /** The heartbeats alone, without the final close of the connections. */
  heartbeatMs: number;
  /** process.cpuUsage() over wallMs. */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** The whole process, module loading included. */
  processCpuMs: number;
  maxRssMB: number;
  /** Programs sent to hosts (round trips) and connections opened. */
  execs: number;
  connectionsOpened: number;
  channelRetries: number;
  bytesIn: number;
  /** Bytes of the programs sent (what the transport was handed). */
  bytesOut: number;
  errors: string[];
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as {
    inventory: string;
    fanout: number;
    idleTimeoutMs?: number;
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const inventory = await loadInventory(config.inventory);
  const pool = new SshPool(present({ idleTimeoutMs: config.idleTimeoutMs }));
  const fleet = createInventoryFleet(inventory, { ssh: { pool } });
  let execs = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  const counted = new Map<string, Transport>();
  const countedTransport = (transport: Transport): Transport => {
    let wrapped = counted.get(transport.target);
    if (!wrapped) {
      wrapped = {
        kind: transport.kind,
        target: transport.target,
        async exec(request) {
          execs += 1;
          bytesOut += Buffer.byteLength(request.program);
          const result = await transport.exec(request);
          bytesIn += result.stdout.length + result.stderr.length;
          return result;
        },
        close: () => transport.close(),
      };
      counted.set(transport.target, wrapped);
    }
    return wrapped;
  };
  let healthy = 0;
  const targets = fleet.select('all');
  const result = await runFleet({
    operationId: newOperationId(),
    command: 'heartbeat.get',
    targets,
    maxConcurrency: config.fanout,
    maxErrors: '100%',
    runTarget: async (server, signal) => {
      const target = fleet.target(server);
      const answer = await runHeartbeat(
        { ...target, transport: countedTransport(target.transport) },
        { signal },
      );
      if (answer.appstack.status === 'healthy') healthy += 1;
      return { status: 'succeeded', result: answer };
    },
    release: (server) => fleet.release?.(server),
  });
  const t1 = performance.now();
  const stats = pool.stats();
  await fleet.close();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const usage = process.resourceUsage();
  const errors = result.targets.flatMap((t) =>
    'error' in t ? [`${t.server}: ${t.error.code} ${t.error.message}`] : [],
  );
  const out: HeartbeatRunResult = {
    hosts: targets.length,
    succeeded: result.summary.succeeded,
    failed: result.summary.failed + result.summary.unreachable + result.summary.skipped,
    healthy,
    wallMs,
    heartbeatMs: t1 - t0,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    processCpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssMB: usage.maxRSS / 1024,
    execs,
    connectionsOpened: stats.connectionsOpened,
    channelRetries: stats.channelRetries,
    bytesIn,
    bytesOut,
    errors: errors.slice(0, 5),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
