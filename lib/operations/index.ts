import { BootstrapError } from '../errors.ts';
import { type AnyCommandRow, rowOf } from './command-row.ts';
import { heartbeatAppstack, heartbeatGet } from './heartbeat.ts';
import { COMMAND_TABLE } from './registry.ts';
import { readSnapshot } from './snapshot.ts';
import type { CommandRequest, HostTarget, RunOptions } from './types.ts';

export type { AppstackAnswer, HeartbeatAnswer } from './heartbeat.ts';
export type { Journal } from './journal.ts';
export * from './types.ts';
export type { DryRun } from './write-loop.ts';

/**
 * Runs one bootstrap command on one host and returns SPEC 2.5.1's JSON for it (or, with
 * `dryRun`, the program that would run). Failures throw a BootstrapError with SPEC 2.6's code.
 */
export async function runCommand(
  host: HostTarget,
  request: CommandRequest,
  options: RunOptions = {},
): Promise<unknown> {
  const { command, ...args } = request;
  return runRow(rowOf(COMMAND_TABLE, command), host, args, options);
}

/** Runs one row's command with `args` (without `command`), checked against the row's zod arguments. */
export async function runRow(
  row: AnyCommandRow,
  host: HostTarget,
  args: object,
  options: RunOptions = {},
): Promise<unknown> {
  // The row's zod arguments only check: what is run is the request as given (zod's `record`
  // would drop a `__proto__` key, which product.set must judge, never lose).
  const checked = row.args.safeParse(args);
  if (!checked.success) {
    throw new BootstrapError('INVALID_REQUEST', `${row.name}: malformed request`, {
      command: row.name,
      issues: checked.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    });
  }
  return row.run(host, args, options);
}

/** Both heartbeats from one read of the host (the API's and the fleet heartbeat's unit of work). */
export async function runHeartbeat(host: HostTarget, options: RunOptions = {}) {
  const snapshot = await readSnapshot(
    host,
    { lock: true, newestJournal: true, checks: true, productState: true },
    options,
  );
  return {
    heartbeat: heartbeatGet(host, snapshot),
    appstack: await heartbeatAppstack(host, snapshot, options),
  };
}
