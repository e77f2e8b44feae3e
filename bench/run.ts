/**
 * `npm run bench`: a loopback fleet of real sshd hosts, our fleet heartbeat against the bare ssh2
 * floors (`true`, and the tools' one-liner), pdsh, parallel-ssh and ansible doing the same work,
 * the same again behind a delay proxy (`--rtt`), forks per host, one host's per-operation cost,
 * SSM's SendCommand count and `commands` sizes, and the Lambda bundles — printed as one report
 * with every target marked, and written to bench/results/latest.json. A benchmark, not a test: it
 * fails only when it cannot run. It installs nothing: a missing tool is named with the command
 * that installs it. Every sshd, proxy, child process and temp dir it made is gone when it ends,
 * Ctrl-C included. See bench/args.ts for the options, bench/README.md for the method.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../scripts/bundle.mjs';
import { type BenchArgs, BenchArgsError, parseBenchArgs } from './args.ts';
import { buildChildren, type Children } from './children.ts';
import { countForks, STRACE_INSTALL, straceAvailable } from './forks.ts';
import { provisionTemplate } from './host-dirs.ts';
import { measureBundles } from './lambda.ts';
import { type BenchFleet, behindDelayProxy, startBenchFleet } from './loopback-fleet.ts';
import { machine, measure } from './measure.ts';
import { measurePerOperation, type OpSeries } from './per-op.ts';
import { killChildren } from './processes.ts';
import { type ProfileSummary, summariseProfile } from './profile.ts';
import { evaluateTargets, formatReport } from './report.ts';
import {
  type BenchResults,
  type MedianCell,
  type Medians,
  mediansOf,
  type RunFigures,
  type RunnerName,
} from './results.ts';
import { type SsmBench, type SsmRun, startSsmBench } from './ssm.ts';
import { median } from './stats.ts';
import { findMissingTools } from './tools.ts';

const SSHD_SETTINGS = ['MaxStartups 1000', 'MaxSessions 64', 'LogLevel INFO'];
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`${line}\n`);

function parseOrExit(argv: readonly string[]): BenchArgs {
  try {
    const parsed = parseBenchArgs(argv);
    if (parsed.kind === 'run') return parsed.args;
    process.stdout.write(`${parsed.usage}\n`);
    process.exit(0);
  } catch (error) {
    if (!(error instanceof BenchArgsError)) throw error;
    process.stderr.write(`bench: ${error.message} (npm run bench -- --help)\n`);
    process.exit(2);
  }
}

const args = parseOrExit(process.argv.slice(2));
const began = performance.now();
const loadAtStart = loadavg()[0]!;
const tmp = mkdtempSync(join(tmpdir(), 'cloudiq-bench-run-'));
let fleet: BenchFleet | undefined;
let proxied: BenchFleet | undefined;
let ssm: SsmBench | undefined;
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    killChildren();
    await ssm?.close().catch(() => {});
    await proxied?.stop().catch(() => {});
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
    log(`\n${signal}: stopping sshd, the delay proxy, child processes and temp dirs…`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Every runner over every size and fan-out, `reps` times in a rotating order; medians per cell. */
async function measureCells(
  f: BenchFleet,
  children: Children,
  sizes: readonly number[],
  fanouts: readonly number[],
  runners: readonly RunnerName[],
  errors: string[],
  label: string,
): Promise<MedianCell[]> {
  const out: MedianCell[] = [];
  for (const n of sizes) {
    const cells = new Map(
      fanouts.map((fo) => [fo, { hosts: n, fanout: fo, runs: {} as MedianCell['runs'] }]),
    );
    // A warm-up run of each runner, not measured: what is measured is the steady state a scheduled
    // heartbeat meets (host code cached on the hosts, appstack plans kept, sshd's files in cache),
    // not a first contact with fresh hosts.
    for (const runner of runners) {
      try {
        await measure(runner, f, children, n, fanouts[0]!, 0, { tmp, profileDir: null });
      } catch (error) {
        log(`[${label}${n} hosts] ${runner} warm-up failed: ${(error as Error).message}`);
      }
    }
    for (let rep = 1; rep <= args.reps; rep += 1) {
      for (const fanout of fanouts) {
        const cell = cells.get(fanout)!;
        // A different order each repetition, so no runner always follows the same one.
        const order = runners.map((_, i) => runners[(i + rep - 1) % runners.length]!);
        for (const runner of order) {
          try {
            const figures = await measure(runner, f, children, n, fanout, rep, {
              tmp,
              profileDir: args.profile && !f.proxy ? join(RESULTS, 'profiles') : null,
            });
            cell.runs[runner] = [...(cell.runs[runner] ?? []), figures];
            log(
              `[${label}${n} hosts, fan-out ${fanout}, rep ${rep}/${args.reps}] ${runner}: ${(figures.processWallMs / 1000).toFixed(2)} s, ${figures.succeeded}/${figures.hosts} ok${figures.errors.length ? ` — ${figures.errors[0]}` : ''}`,
            );
          } catch (error) {
            errors.push(`${runner} at ${label}${n} hosts, fan-out ${fanout}: ${(error as Error).message}`);
            log(`[${label}${n} hosts, fan-out ${fanout}] ${runner} failed: ${(error as Error).message}`);
          }
        }
      }
    }
    for (const cell of cells.values()) {
      const medians: Partial<Record<RunnerName, Medians>> = {};
      for (const [runner, runs] of Object.entries(cell.runs) as Array<[RunnerName, RunFigures[]]>) {
        const m = mediansOf(runs);
        if (m) medians[runner] = m;
      }
      out.push({ ...cell, medians });
    }
  }
  return out;
}

async function perOperationMedians(f: BenchFleet, errors: string[]): Promise<BenchResults['perOperation']> {
  log(`per-operation cost: ${args.ops} product.get on one host, ${args.reps} repetitions…`);
  try {
    const reps: OpSeries[][] = [];
    for (let rep = 0; rep < args.reps; rep += 1) reps.push(await measurePerOperation(f, args.ops));
    return reps[0]!.map((first, i) => ({
      ...first,
      medianMs: median(reps.map((r) => r[i]!.medianMs)),
      p95Ms: median(reps.map((r) => r[i]!.p95Ms)),
      throughputMsPerOp: median(reps.map((r) => r[i]!.throughputMsPerOp)),
      reps: reps.length,
    }));
  } catch (error) {
    errors.push(`per-operation: ${(error as Error).message}`);
    return null;
  }
}

/** Forks per host: ours, the same-work floor and the `true` floor, each once under strace. */
async function forkCounts(
  f: BenchFleet,
  children: Children,
  errors: string[],
): Promise<BenchResults['forks']> {
  if (!straceAvailable()) return { method: null, why: `strace missing (${STRACE_INSTALL})` };
  const n = Math.min(20, Math.max(...args.hosts));
  const method = `strace -f -c on every sshd listener: clone/clone3/fork/vfork and execve calls, one untimed run over ${n} hosts`;
  log(`forks: ${method}…`);
  const counts = [];
  for (const runner of ['ours', 'floor-work', 'floor'] as const) {
    try {
      counts.push(
        await countForks(runner, n, f.sshdPids, tmp, () =>
          measure(runner, f, children, n, args.fanouts[0]!, 0, { tmp, profileDir: null }),
        ),
      );
    } catch (error) {
      errors.push(`forks (${runner}): ${(error as Error).message}`);
    }
  }
  return { method, counts };
}

async function ssmSection(errors: string[]): Promise<Pick<BenchResults, 'ssm' | 'ssmCommandSizes'>> {
  log(`SSM: ${args.ssmHosts} instances on the loopback SSM server…`);
  let ssmRuns: SsmRun[] | null = null;
  let ssmCommandSizes: BenchResults['ssmCommandSizes'] = null;
  try {
    const template = fleet?.template ?? (await provisionTemplate(tmp));
    const parent = join(tmp, 'ssm');
    mkdirSync(parent);
    ssm = await startSsmBench(args.ssmHosts, parent, template);
    ssmCommandSizes = await ssm.commandSizes();
    // Unmeasured, as the SSH runners' warm-up: the first heartbeat installs the host code on every
    // instance (each instance's fallback program goes as it answers), later ones are the steady state.
    const first = await ssm.run(0);
    log(
      `[SSM ${first.instances}, first contact, unmeasured] ${first.sendCommands} SendCommand, ${(first.wallMs / 1000).toFixed(2)} s`,
    );
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
  return { ssm: ssmRuns, ssmCommandSizes };
}

async function main(): Promise<void> {
  const errors: string[] = [];
  let heartbeat: MedianCell[] = [];
  const profiles: ProfileSummary[] = [];
  let perOperation: BenchResults['perOperation'] = null;
  let latency: BenchResults['latency'] = null;
  let forks: BenchResults['forks'] = null;
  let ssmFigures: Pick<BenchResults, 'ssm' | 'ssmCommandSizes'> = { ssm: null, ssmCommandSizes: null };
  let lambda: BenchResults['lambda'] = null;
  const wantTools = args.sections.has('tools') ? args.tools : [];
  const missing: BenchResults['missing'] = findMissingTools(wantTools);
  for (const [tool, install] of Object.entries(missing))
    log(`${tool} is missing: not measured (install: ${install})`);
  const runners: RunnerName[] = [
    ...(args.sections.has('heartbeat') ? (['ours'] as const) : []),
    ...(args.sections.has('floor') ? (['floor', 'floor-work', 'floor-checks'] as const) : []),
    ...wantTools.filter((t) => !missing[t]),
  ];
  const needFleet =
    runners.length > 0 ||
    args.sections.has('perop') ||
    args.sections.has('forks') ||
    args.sections.has('rtt');

  if (loadAtStart > 0.5 * cpus().length)
    log(
      `warning: load average ${loadAtStart.toFixed(2)} on ${cpus().length} CPUs — other work will skew the figures`,
    );
  if (needFleet) {
    const largest = Math.max(...args.hosts);
    log(`starting ${largest} loopback hosts (${Math.ceil(largest / args.hostsPerSshd)} sshd processes)…`);
    fleet = await startBenchFleet(largest, args.hostsPerSshd);
  }
  const children = fleet ? await buildChildren(tmp) : undefined;
  if (fleet && children && runners.length > 0) {
    heartbeat = await measureCells(fleet, children, args.hosts, args.fanouts, runners, errors, '');
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
  if (fleet && children && args.sections.has('rtt')) {
    // The latency pass: the target's cell only (the largest fleet, fan-out 32 where measured).
    const n = Math.max(...args.hosts);
    const fanout = args.fanouts.includes(32) ? 32 : args.fanouts[0]!;
    log(`latency pass: ${args.rttMs} ms RTT through a delay proxy in front of every host…`);
    try {
      proxied = await behindDelayProxy(fleet, args.rttMs);
      // The checks alone only bound the host-CPU target, which is read without latency.
      const timed = runners.filter((r) => r !== 'floor-checks');
      const cells = timed.length
        ? await measureCells(proxied, children, [n], [fanout], timed, errors, `${args.rttMs} ms RTT, `)
        : [];
      let series: OpSeries[] | null = null;
      if (args.sections.has('perop')) {
        try {
          series = await measurePerOperation(proxied, Math.min(args.ops, 20), [1]);
        } catch (error) {
          errors.push(`per-operation at ${args.rttMs} ms RTT: ${(error as Error).message}`);
        }
      }
      latency = { rttMs: args.rttMs, cells, perOperation: series };
    } catch (error) {
      errors.push(`latency pass: ${(error as Error).message}`);
    } finally {
      await proxied?.stop();
      proxied = undefined;
    }
  }
  if (fleet && children && args.sections.has('forks')) forks = await forkCounts(fleet, children, errors);
  if (fleet && args.sections.has('perop')) perOperation = await perOperationMedians(fleet, errors);

  if (args.sections.has('lambda')) {
    log(`Lambda bundles: size and module init (${args.initSamples} fresh processes each)…`);
    try {
      lambda = await measureBundles(args.initSamples);
    } catch (error) {
      errors.push(`lambda: ${(error as Error).message}`);
    }
  }
  if (args.sections.has('ssm')) ssmFigures = await ssmSection(errors);

  const partial: Omit<BenchResults, 'targets'> = {
    schema: 2,
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
      rttMs: args.sections.has('rtt') ? args.rttMs : 0,
    },
    missing,
    heartbeat,
    perOperation,
    latency,
    forks,
    ...ssmFigures,
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
