/**
 * `npm run bench`: a loopback fleet of real sshd hosts, our fleet heartbeat against the bare ssh2
 * floor, pdsh, parallel-ssh and ansible doing the same work, one host's per-operation cost, the
 * SSM heartbeat's SendCommand count and the Lambda bundles — printed as one report with issue 8's
 * targets marked, and written to bench/results/latest.json. A benchmark, not a test: it fails
 * only when it cannot run. Every sshd, child process and temp dir it made is gone when it ends,
 * Ctrl-C included. See bench/args.ts for the options.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../scripts/bundle.mjs';
import { parseBenchArgs, type ToolName } from './args.ts';
import { buildChildren } from './children.ts';
import { provisionTemplate } from './host-dirs.ts';
import { measureBundles } from './lambda.ts';
import { type BenchFleet, startBenchFleet } from './loopback-fleet.ts';
import { machine, measure } from './measure.ts';
import { measurePerOperation, type OpSeries } from './per-op.ts';
import { killChildren } from './processes.ts';
import { type ProfileSummary, summariseProfile } from './profile.ts';
import { evaluateTargets, formatReport } from './report.ts';
import {
  type BenchResults,
  type HeartbeatCell,
  mediansOf,
  type RunFigures,
  type RunnerName,
} from './results.ts';
import { type SsmBench, type SsmRun, startSsmBench } from './ssm.ts';
import { median } from './stats.ts';

const SSHD_SETTINGS = ['MaxStartups 1000', 'MaxSessions 64', 'LogLevel INFO'];
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`${line}\n`);

const args = parseBenchArgs(process.argv.slice(2));
const began = performance.now();
const loadAtStart = loadavg()[0]!;
const tmp = mkdtempSync(join(tmpdir(), 'cloudiq-bench-run-'));
let fleet: BenchFleet | undefined;
let ssm: SsmBench | undefined;
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    killChildren();
    await ssm?.close().catch(() => {});
    await fleet?.stop().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaned;
}

// The AWS SDK warns that its future versions will need Node 22: true, and nothing to do with the figures.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'NodeVersionSupportWarning') log(`${warning.name}: ${warning.message}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping sshd, child processes and temp dirs…`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const errors: string[] = [];
  const heartbeat: BenchResults['heartbeat'] = [];
  const profiles: ProfileSummary[] = [];
  let perOperation: BenchResults['perOperation'] = null;
  let ssmRuns: SsmRun[] | null = null;
  let lambda: BenchResults['lambda'] = null;
  const runners: RunnerName[] = [
    ...(args.sections.has('heartbeat') ? (['ours'] as const) : []),
    ...(args.sections.has('floor') ? (['floor'] as const) : []),
    ...(args.sections.has('tools') ? args.tools : ([] as ToolName[])),
  ];
  const needFleet = runners.length > 0 || args.sections.has('perop');

  if (loadAtStart > 0.5 * cpus().length)
    log(
      `warning: load average ${loadAtStart.toFixed(2)} on ${cpus().length} CPUs — other work will skew the figures`,
    );
  if (needFleet) {
    const largest = Math.max(...args.hosts);
    log(`starting ${largest} loopback hosts (${Math.ceil(largest / args.hostsPerSshd)} sshd processes)…`);
    fleet = await startBenchFleet(largest, args.hostsPerSshd);
  }
  if (fleet && runners.length > 0) {
    const children = await buildChildren(tmp);
    for (const n of args.hosts) {
      const cells = new Map<number, HeartbeatCell>(
        args.fanouts.map((fo) => [fo, { hosts: n, fanout: fo, runs: {} }]),
      );
      for (let rep = 1; rep <= args.reps; rep += 1) {
        for (const fanout of args.fanouts) {
          const cell = cells.get(fanout)!;
          // A different order each repetition, so no runner always follows the same one.
          const order = runners.map((_, i) => runners[(i + rep - 1) % runners.length]!);
          for (const runner of order) {
            try {
              const figures = await measure(runner, fleet, children, n, fanout, rep, {
                tmp,
                profileDir: args.profile ? join(RESULTS, 'profiles') : null,
              });
              const runs = cell.runs[runner] ?? [];
              runs.push(figures);
              cell.runs[runner] = runs;
              log(
                `[${n} hosts, fan-out ${fanout}, rep ${rep}/${args.reps}] ${runner}: ${(figures.processWallMs / 1000).toFixed(2)} s, ${figures.succeeded}/${figures.hosts} ok${figures.errors.length ? ` — ${figures.errors[0]}` : ''}`,
              );
            } catch (error) {
              errors.push(`${runner} at ${n} hosts, fan-out ${fanout}: ${(error as Error).message}`);
              log(`[${n} hosts, fan-out ${fanout}] ${runner} failed: ${(error as Error).message}`);
            }
          }
        }
      }
      for (const cell of cells.values()) {
        const medians: Partial<Record<RunnerName, NonNullable<ReturnType<typeof mediansOf>>>> = {};
        for (const [runner, runs] of Object.entries(cell.runs) as Array<[RunnerName, RunFigures[]]>) {
          const m = mediansOf(runs);
          if (m) medians[runner] = m;
        }
        heartbeat.push({ ...cell, medians });
      }
    }
    if (args.profile) {
      const n = Math.max(...args.hosts);
      for (const fanout of args.fanouts) {
        try {
          profiles.push(
            summariseProfile(join(RESULTS, 'profiles', `ours-${n}-f${fanout}-r${args.reps}.cpuprofile`)),
          );
        } catch (error) {
          errors.push(`profile: ${(error as Error).message}`);
        }
      }
    }
  }

  if (fleet && args.sections.has('perop')) {
    log(`per-operation cost: ${args.ops} product.get on one host, ${args.reps} repetitions…`);
    try {
      const reps: OpSeries[][] = [];
      for (let rep = 0; rep < args.reps; rep += 1) reps.push(await measurePerOperation(fleet, args.ops));
      perOperation = reps[0]!.map((first, i) => ({
        ...first,
        medianMs: median(reps.map((r) => r[i]!.medianMs)),
        p95Ms: median(reps.map((r) => r[i]!.p95Ms)),
        throughputMsPerOp: median(reps.map((r) => r[i]!.throughputMsPerOp)),
        reps: reps.length,
      }));
    } catch (error) {
      errors.push(`per-operation: ${(error as Error).message}`);
    }
  }

  if (args.sections.has('lambda')) {
    log('Lambda bundles: size and module init…');
    try {
      lambda = await measureBundles();
    } catch (error) {
      errors.push(`lambda: ${(error as Error).message}`);
    }
  }

  if (args.sections.has('ssm')) {
    log(`SSM: ${args.ssmHosts} instances on the loopback SSM server…`);
    try {
      const template = fleet?.template ?? (await provisionTemplate(tmp));
      const parent = join(tmp, 'ssm');
      mkdirSync(parent);
      ssm = await startSsmBench(args.ssmHosts, parent, template);
      ssmRuns = [];
      for (const fanout of args.ssmFanouts) {
        const runs: SsmRun[] = [];
        for (let rep = 1; rep <= args.reps; rep += 1) {
          const r = await ssm.run(fanout);
          runs.push(r);
          log(
            `[SSM ${r.instances}, fan-out ${r.fanout}, rep ${rep}] ${r.sendCommands} SendCommand, ${(r.wallMs / 1000).toFixed(2)} s`,
          );
        }
        const mid = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(runs.length / 2)]!;
        ssmRuns.push({
          ...mid,
          sendCommands: median(runs.map((r) => r.sendCommands)),
          sendCommandsPer50Hosts: median(runs.map((r) => r.sendCommandsPer50Hosts)),
        });
      }
    } catch (error) {
      errors.push(`ssm: ${(error as Error).message}`);
    } finally {
      await ssm?.close();
      ssm = undefined;
    }
  }

  const partial: Omit<BenchResults, 'targets'> = {
    schema: 1,
    date: new Date().toISOString(),
    machine: machine(),
    loadAverage: loadAtStart,
    settings: {
      hosts: args.hosts,
      fanouts: args.fanouts,
      reps: args.reps,
      hostsPerSshd: args.hostsPerSshd,
      sshd: SSHD_SETTINGS,
      serverCpu: fleet?.cpuAccounting ?? null,
      ssmHosts: args.ssmHosts,
      ops: args.ops,
    },
    heartbeat,
    perOperation,
    ssm: ssmRuns,
    lambda,
    profiles,
    errors,
    durationS: (performance.now() - began) / 1000,
  };
  const results: BenchResults = { ...partial, targets: evaluateTargets(partial) };
  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(RESULTS, 'latest.json'), json);
  if (args.out) writeFileSync(args.out, json);
  process.stdout.write(`\n${formatReport(results)}\n`);
  log(`\nwritten: bench/results/latest.json${args.out ? ` and ${args.out}` : ''}`);
}

try {
  await main();
} finally {
  await cleanup();
}
