/**
 * One measured run of one runner (ours, the floor or a tool) over a loopback fleet: its own
 * figures, sshd's CPU for it, and the CPU the rest of the machine used meanwhile, so a disturbed
 * run shows as one.
 */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { type Children, runChild } from './children.ts';
import type { FloorRunResult } from './floor-run.ts';
import type { HeartbeatRunResult } from './heartbeat-run.ts';
import type { BenchFleet } from './loopback-fleet.ts';
import { type BenchResults, isFloor, type RunFigures, type RunnerName } from './results.ts';
import { machineBusyMs } from './server-cpu.ts';
import { checksLine, DONE, oneLiner, runTool } from './tools.ts';

/** What the figures were measured on. */
export function machine(): BenchResults['machine'] {
  // `ssh -V` prints to stderr.
  const ssh = execFileSync('sh', ['-c', 'ssh -V 2>&1'], { encoding: 'utf8' }).trim();
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.versions.node,
    openssh: ssh.split(',')[0] ?? ssh,
  };
}

export interface MeasureOptions {
  /** Scratch space for the tools' files. */
  tmp: string;
  /** Write a CPU profile of our run here (`ours-N-fFANOUT-rREP.cpuprofile`). */
  profileDir: string | null;
}

/** The figures both of our child runners (ours and the bare ssh2 floor) report alike. */
function childFigures(r: FloorRunResult & { processWallMs: number }) {
  return {
    hosts: r.hosts,
    succeeded: r.succeeded,
    wallMs: r.wallMs,
    processWallMs: r.processWallMs,
    cpuMs: r.processCpuMs,
    runCpuMs: r.cpuUserMs + r.cpuSystemMs,
    maxRssMB: r.maxRssMB,
    bytesIn: r.bytesIn,
    errors: r.errors,
  };
}

/** Runs one runner once over the first `n` hosts and reads the servers' and the machine's CPU for it. */
export async function measure(
  runner: RunnerName,
  f: BenchFleet,
  children: Children,
  n: number,
  fanout: number,
  rep: number,
  options: MeasureOptions,
): Promise<RunFigures> {
  await f.waitIdle();
  const cpu0 = f.serverCpuMs();
  const busy0 = machineBusyMs();
  const proxy0 = f.proxy?.counters();
  let figures: Omit<RunFigures, 'serverCpuMs' | 'otherCpuMs'>;
  if (runner === 'ours') {
    const profile = options.profileDir
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${options.profileDir}`,
          `--cpu-prof-name=ours-${n}-f${fanout}-r${rep}.cpuprofile`,
        ]
      : [];
    const r = await runChild<HeartbeatRunResult>(
      children.heartbeat,
      { inventory: f.filesFor(n).inventory, fanout },
      profile,
    );
    figures = {
      ...childFigures(r),
      execs: r.execs,
      connections: r.connectionsOpened,
      bytesOut: r.bytesOut,
    };
  } else if (isFloor(runner)) {
    // `true` by default; the one-liner, or only its checks.
    const line = { floor: undefined, 'floor-work': oneLiner, 'floor-checks': checksLine }[runner];
    const r = await runChild<FloorRunResult>(children.floor, {
      hosts: f.hosts.slice(0, n).map((h) => ({ host: h.address, port: h.port, hostKey: h.hostKey })),
      user: f.user,
      identityFile: f.identityFile,
      fanout,
      ...(line ? { command: line(f.byAddressDir), expect: DONE } : {}),
    });
    figures = childFigures(r);
  } else {
    const r = await runTool(runner, f, n, fanout, options.tmp);
    figures = {
      hosts: r.hosts,
      succeeded: r.succeeded,
      wallMs: r.wallMs,
      processWallMs: r.wallMs,
      cpuMs: r.cpuUserMs + r.cpuSystemMs,
      maxRssMB: r.maxRssMB,
      errors: r.errors,
    };
  }
  const idle = await f.waitIdle();
  const serverCpuMs = f.serverCpuMs() - cpu0;
  const proxy1 = f.proxy?.counters();
  const wire =
    proxy0 && proxy1
      ? {
          roundTrips: proxy1.roundTrips - proxy0.roundTrips,
          wireBytes: proxy1.bytesUp + proxy1.bytesDown - proxy0.bytesUp - proxy0.bytesDown,
          proxyConnections: proxy1.connections - proxy0.connections,
        }
      : {};
  return {
    ...figures,
    ...wire,
    serverCpuMs,
    otherCpuMs: Math.max(0, machineBusyMs() - busy0 - serverCpuMs - figures.cpuMs),
    errors: idle ? figures.errors : [...figures.errors, 'sshd still had connections 15 s after the run'],
  };
}
