import { BootstrapError } from '../errors.ts';
import { type QuickWritePlan, type ReadPlan, renderQuickWrite } from '../host/programs.ts';
import type { Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './target.ts';
import { type DryRun, runWriteLoop } from './write-loop.ts';

export type { DryRun } from './write-loop.ts';

/**
 * Read → plan → render → run for a short mutating command, through the write loop (a conflict
 * reads and plans again). `read` names the files the plan needs; `plan` validates (throwing
 * INVALID_* / UNKNOWN_*) and returns the writes and the answer builder.
 */
export function runQuickWrite<T>(
  host: HostTarget,
  options: RunOptions,
  read: ReadPlan,
  plan: (snapshot: Snapshot) => { write: QuickWritePlan; answer: (now: string) => T },
): Promise<T | DryRun> {
  return runWriteLoop(host, options, read, (snapshot) => {
    const planned = plan(snapshot);
    return {
      program: renderQuickWrite(host, planned.write),
      finish: (answer) => {
        if (answer.ok === undefined)
          throw new BootstrapError('INTERNAL', `${host.name}: no confirmation from the host`);
        return planned.answer(answer.ok);
      },
    };
  });
}
