import { BootstrapError } from '../errors.ts';
import { type QuickWritePlan, renderQuickWrite } from '../host/programs.ts';
import { lockedError } from './locked.ts';
import { execProgram, readSnapshot, type Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './types.ts';

export const MAX_PLAN_ATTEMPTS = 5;

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
    if (answer.conflict) continue;
    if (answer.ok === undefined)
      throw new BootstrapError('INTERNAL', `${host.name}: no confirmation from the host`);
    return planned.answer(answer.ok);
  }
  throw new BootstrapError(
    'INTERNAL',
    `${host.name}: state kept changing during ${MAX_PLAN_ATTEMPTS} attempts`,
    {
      server: host.name,
    },
  );
}
