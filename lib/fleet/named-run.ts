/**
 * What a run's operation id names, as the in-process driver (local-runs.ts) and the cloud's claims
 * (lib/cloud/run-claims.ts) keep it, for lib/operations/same-request.ts to compare.
 */
import type { NamedRequest } from '../operations/same-request.ts';
import type { CommandRequest } from '../operations/types.ts';
import { commandArgs } from './aggregate.ts';
import type { RunJob } from './job.ts';
import { upgradeRequest } from './steps/plan.ts';

/** What a job's operation id names (lib/operations/same-request.ts). The callback URL, rates and selection do not: a repeat may change them. */
export type NamedRun = NamedRequest & { kind: RunJob['kind'] };

/** What `job`'s operation id names: a fleet run's command and arguments, or one server's operation's. */
export function namedRunOf(job: RunJob): NamedRun {
  if (job.kind === 'fleet') {
    const command = upgradeRequest(job);
    return { kind: 'fleet', command: command.command, args: commandArgs(command) };
  }
  const request = { ...job.request, operationId: job.operationId } as CommandRequest;
  return { kind: 'server', server: job.server, command: request.command, args: commandArgs(request) };
}
