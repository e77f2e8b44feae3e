import { BootstrapError } from '../errors.ts';
import { type QuickWritePlan, renderQuickWrite } from '../host/programs.ts';
import { lockedError } from './locked.ts';
import { execProgram, readSnapshot, type Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './types.ts';

export const MAX_PLAN_ATTEMPTS = 8;

export type DryRun = { dryRun: true; server: string; program: string };

/**
 * Read → plan → render → run for a short mutating command, with optimistic concurrency: when the
 * host's files changed between the read and the lock (`@conflict`), read and plan again.
 * `plan` validates (throwing INVALID_* / UNKNOWN_*) and returns the writes and the answer builder.
 */
export async function runQuickWrite<T>(
  host: HostTarget,
  options: RunOptions,
  plan: (snapshot: Snapshot) => { write: QuickWritePlan; answer: (now: string) => T },
): Promise<T | DryRun> {
  for (let attempt = 1; attempt <= MAX_PLAN_ATTEMPTS; attempt++) {
    const snapshot = await readSnapshot(host, {}, options);
    const planned = plan(snapshot);
    const program = renderQuickWrite(host, planned.write);
    if (options.dryRun) return { dryRun: true, server: host.name, program };
    const answer = await execProgram(host, program, options);
    if (answer.locked !== undefined) throw lockedError(host.name, answer.locked);
    if (answer.conflict) {
      await contentionPause(attempt);
      continue;
    }
    if (answer.ok === undefined)
      throw new BootstrapError('INTERNAL', `${host.name}: no confirmation from the host`);
    return planned.answer(answer.ok);
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
