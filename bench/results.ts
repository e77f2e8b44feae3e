/**
 * The shape of a benchmark run's results (what bench/results/*.json hold) and the medians over
 * repetitions. Every figure is in ms or MB; ratios are "how many times ours is faster".
 */
import type { ToolName } from './args.ts';
import type { ForkCount } from './forks.ts';
import type { BundleFigure } from './lambda.ts';
import type { OpSeries } from './per-op.ts';
import type { ProfileSummary } from './profile.ts';
import type { CommandSize, SsmRun } from './ssm.ts';
import { medianOf } from './stats.ts';

/**
 * `floor`: bare ssh2 running `true`; `floor-work`: bare ssh2 running the tools' one-liner;
 * `floor-checks`: bare ssh2 running only the one-liner's two checks.
 */
export type RunnerName = 'ours' | 'floor' | 'floor-work' | 'floor-checks' | ToolName;

/** One measured run of one runner (ours, the floor or a tool) over one fleet at one fan-out. */
export interface RunFigures {
  hosts: number;
  succeeded: number;
  /** For ours and the floor: inside the process, from loading the inventory to the last close. */
  wallMs: number;
  /** From spawn to exit: what a user waits for. Tools are only measured this way. */
  processWallMs: number;
  /** Client CPU of the whole process, user + system, startup included (for tools: every process they waited for). */
  cpuMs: number;
  /** Ours and the floor: client CPU over `wallMs` only. */
  runCpuMs?: number;
  maxRssMB: number;
  /** sshd's CPU for the run, every connection's processes and the programs they ran included. */
  serverCpuMs: number;
  /**
   * CPU the rest of the machine used meanwhile (all busy CPU minus the client's and sshd's): other
   * work on the machine, which slows every figure of that run. Near zero on a quiet machine.
   */
  otherCpuMs: number;
  /** Ours only: programs sent and connections opened. */
  execs?: number;
  connections?: number;
  /** Ours and the floors: stdout + stderr bytes received; ours: program bytes sent. */
  bytesIn?: number;
  bytesOut?: number;
  /** Behind the delay proxy: round trips counted there, bytes both ways, TCP connections. */
  roundTrips?: number;
  wireBytes?: number;
  proxyConnections?: number;
  errors: string[];
}

export interface HeartbeatCell {
  hosts: number;
  fanout: number;
  runs: Partial<Record<RunnerName, RunFigures[]>>;
}

export type Medians = Omit<RunFigures, 'errors'> & { reps: number; failedReps: number };

export type MedianCell = HeartbeatCell & { medians: Partial<Record<RunnerName, Medians>> };

export interface Target {
  name: string;
  target: string;
  measured: string;
  /** `null`: not measured (`measured` says why), or counted without a target (`info`). */
  met: boolean | null;
  note?: string;
  info?: boolean;
}

export interface BenchResults {
  schema: 2;
  date: string;
  machine: { cpus: number; model: string; memoryGB: number; kernel: string; node: string; openssh: string };
  /** 1-minute load average when the run began: other work on the machine skews every figure. */
  loadAverage: number;
  settings: {
    hosts: number[];
    fanouts: number[];
    reps: number;
    hostsPerSshd: number;
    sshd: string[];
    /** How sshd CPU was counted: a cgroup (every process) or /proc (only what sshd reaped). */
    serverCpu: 'cgroup' | 'proc' | null;
    ssmHosts: number;
    ops: number;
    rttMs: number;
  };
  /** Runners that could not run: what to install (`apt-get install -y pdsh`), by runner. */
  missing: Partial<Record<RunnerName, string>>;
  heartbeat: MedianCell[];
  perOperation: Array<OpSeries & { reps: number }> | null;
  /** The latency pass: the same runs and a per-operation series behind the delay proxy. */
  latency: { rttMs: number; cells: MedianCell[]; perOperation: OpSeries[] | null } | null;
  forks: { method: string; counts: ForkCount[] } | { method: null; why: string } | null;
  ssm: SsmRun[] | null;
  ssmCommandSizes: CommandSize[] | null;
  /** cliStartMs: the split CLI (dist/cli/); cliFileStartMs: the one file (absent before it was measured). */
  lambda: { functions: BundleFigure[]; cliStartMs: number; cliFileStartMs?: number } | null;
  profiles: ProfileSummary[];
  targets: Target[];
  errors: string[];
  durationS: number;
}

/** Medians over the repetitions that reached every host (a failed repetition is counted apart). */
export function mediansOf(runs: readonly RunFigures[]): Medians | undefined {
  if (runs.length === 0) return undefined;
  const good = runs.filter((r) => r.succeeded === r.hosts);
  const use = good.length > 0 ? good : runs;
  const m = (pick: (r: RunFigures) => number | undefined) => medianOf(use, pick);
  const out: Medians = {
    hosts: use[0]!.hosts,
    succeeded: m((r) => r.succeeded),
    wallMs: m((r) => r.wallMs),
    processWallMs: m((r) => r.processWallMs),
    cpuMs: m((r) => r.cpuMs),
    maxRssMB: m((r) => r.maxRssMB),
    serverCpuMs: m((r) => r.serverCpuMs),
    otherCpuMs: m((r) => r.otherCpuMs),
    reps: runs.length,
    failedReps: runs.length - good.length,
  };
  if (use[0]!.runCpuMs !== undefined) out.runCpuMs = m((r) => r.runCpuMs);
  if (use[0]!.execs !== undefined) out.execs = m((r) => r.execs);
  for (const key of [
    'connections',
    'bytesIn',
    'bytesOut',
    'roundTrips',
    'wireBytes',
    'proxyConnections',
  ] as const) {
    if (use[0]![key] !== undefined) out[key] = m((r) => r[key]);
  }
  return out;
}

/** The bare ssh2 runners. */
export function isFloor(runner: RunnerName): runner is 'floor' | 'floor-work' | 'floor-checks' {
  return runner === 'floor' || runner === 'floor-work' || runner === 'floor-checks';
}

/** Ours and the floors are timed inside their processes too; the tools only from spawn to exit. */
export function inProcess(runner: RunnerName): boolean {
  return runner === 'ours' || isFloor(runner);
}

/**
 * Like for like: the floors are timed inside their process as ours is; the tools from spawn to
 * exit, so they are compared with our whole process (bundle loading included).
 */
export function comparedWall(runner: RunnerName, figures: Medians): number {
  return inProcess(runner) ? figures.wallMs : figures.processWallMs;
}

/** How many times ours is faster than `runner` (other's time ÷ ours, like for like). */
export function speedup(runner: RunnerName, cell: MedianCell) {
  const ours = cell.medians.ours;
  const other = cell.medians[runner];
  if (!ours || !other) return Number.NaN;
  if (runner === 'ours') return 1;
  return inProcess(runner) ? other.wallMs / ours.wallMs : other.processWallMs / ours.processWallMs;
}
