/**
 * The loop every change runs (DESIGN "An operation, end to end"): read → plan → render → run,
 * with optimistic concurrency. The program takes the lock and checks that the files it was
 * planned from are unchanged; when they changed meanwhile (`@conflict`) the host is read and the
 * plan made again, a few times, with a growing pause so that racing writers spread out.
 */
import { BootstrapError } from '../errors.ts';
import type { HostAnswer } from '../host/parse.ts';
import type { ReadPlan } from '../host/programs.ts';
import { lockedError } from './locked.ts';
import { execProgram, readSnapshot, type Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './target.ts';

export const MAX_PLAN_ATTEMPTS = 8;

export type DryRun = { dryRun: true; server: string; program: string };

/** One attempt, planned from one read: the program to run, or the answer the read already gives. */
export type Attempt<T> =
  | {
      program: string;
      /** A lock held by this very operation: not a refusal, the next read shows its outcome. */
      ownsLock?: (record: string) => boolean;
      /** The answer from the program's output, once it ran without conflict (throws for a refusal). */
      finish: (answer: HostAnswer) => T;
    }
  | { answered: T };

/**
 * Reads the host (`read`), plans (`attempt`, which throws INVALID_* / UNKNOWN_* before anything
 * runs), runs the program and returns its answer; with `dryRun`, the program instead.
 */
export async function runWriteLoop<T>(
  host: HostTarget,
  options: RunOptions,
  read: ReadPlan,
  attempt: (snapshot: Snapshot) => Attempt<T>,
): Promise<T | DryRun> {
  for (let n = 1; n <= MAX_PLAN_ATTEMPTS; n++) {
    const planned = attempt(await readSnapshot(host, read, options));
    if ('answered' in planned) return planned.answered;
    if (options.dryRun) return { dryRun: true, server: host.name, program: planned.program };
    const answer = await execProgram(host, planned.program, options);
    const ownLock = answer.locked !== undefined && planned.ownsLock?.(answer.locked) === true;
    if (answer.locked !== undefined && !ownLock) throw lockedError(host.name, answer.locked);
    if (ownLock || answer.conflict) {
      await contentionPause(n);
      continue;
    }
    return planned.finish(answer);
  }
  throw contentionError(host);
}

/** Between attempts after a conflict: a growing, jittered pause, so that racing writers spread out. */
export function contentionPause(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(1000, 25 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Other operations kept changing the files this one planned from: busy, as LOCKED says, not a bug. */
export function contentionError(host: HostTarget): BootstrapError {
  return new BootstrapError(
    'LOCKED',
    `${host.name}: other operations kept changing the state during ${MAX_PLAN_ATTEMPTS} attempts; try again`,
    { server: host.name, pid: null, operation: null, command: null, started_at: null, contention: true },
  );
}
