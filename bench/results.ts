/**
 * The shape of a benchmark run's results (what bench/results/*.json hold) and the medians over
 * repetitions. Every figure is in ms or MB; ratios are "how many times ours is faster".
 */
import type { ToolName } from './args.ts';
import type { BundleFigure } from './lambda.ts';
import type { OpSeries } from './per-op.ts';
import type { ProfileSummary } from './profile.ts';
import type { SsmRun } from './ssm.ts';
import { medianOf } from './stats.ts';

export type RunnerName = 'ours' | 'floor' | ToolName;

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
  errors: string[];
}

export interface HeartbeatCell {
  hosts: number;
  fanout: number;
  runs: Partial<Record<RunnerName, RunFigures[]>>;
}

export type Medians = Omit<RunFigures, 'errors'> & { reps: number; failedReps: number };

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

export interface BenchResults {
  schema: 1;
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
  };
  heartbeat: Array<HeartbeatCell & { medians: Partial<Record<RunnerName, Medians>> }>;
  perOperation: Array<OpSeries & { reps: number }> | null;
  ssm: SsmRun[] | null;
  lambda: { functions: BundleFigure[]; cliStartMs: number } | null;
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
  if (use[0]!.connections !== undefined) out.connections = m((r) => r.connections);
  return out;
}

/**
 * Like for like: the floor is timed inside its process as ours is; the tools from spawn to exit,
 * so they are compared with our whole process (bundle loading included).
 */
export function comparedWall(runner: RunnerName, figures: Medians): number {
  return runner === 'ours' || runner === 'floor' ? figures.wallMs : figures.processWallMs;
}

/** How many times ours is faster than `runner` (other's time ÷ ours, like for like). */
export function speedup(
  runner: RunnerName,
  cell: HeartbeatCell & { medians: Partial<Record<RunnerName, Medians>> },
) {
  const ours = cell.medians.ours;
  const other = cell.medians[runner];
  if (!ours || !other) return Number.NaN;
  if (runner === 'ours') return 1;
  return runner === 'floor' ? other.wallMs / ours.wallMs : other.processWallMs / ours.processWallMs;
}
