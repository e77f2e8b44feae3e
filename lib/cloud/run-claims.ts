/**
 * Operation ids taken before anything runs (SPEC 7.1: "The same `operationId` sent again answers
 * with the same operation, never a second run"; 7.3: "starting it twice starts it once"). In the
 * cloud a run is a Step Functions execution named by its id, but one server's operation and a
 * fleet run go to two state machines (two namespaces of names), and a server's operation is
 * started on its host before its execution: an execution's name alone cannot refuse the same id
 * on another server, or for a fleet run. So an id is claimed first, recording what it names —
 * one server's operation (the server, the command and its arguments) or a fleet run (the
 * command and its arguments) — and a claim that names anything else is refused
 * (INVALID_REQUEST), as `serve` refuses it (lib/fleet/local-runs.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import { BootstrapError } from '../errors.ts';
import { commandArgs } from '../fleet/aggregate.ts';
import type { RunJob } from '../fleet/job.ts';
import { upgradeRequest } from '../fleet/steps/plan.ts';
import type { CommandRequest } from '../operations/types.ts';

/** What an operation id names. The callback URL, rates and selection do not: a repeat may change them. */
export interface ClaimedRun {
  kind: RunJob['kind'];
  server?: string;
  command: string;
  args: Record<string, unknown>;
}

/** Gives a claim back: only one this call made, and only while it is still that one. */
export type GiveBack = () => Promise<void>;

export interface RunClaims {
  /**
   * Takes `job`'s operation id, or finds it already taken for the same run (a repeat); refuses
   * (INVALID_REQUEST) an id that names another run. Answers how to give the claim back when the
   * start it guards failed before anything ran (a repeat's give-back does nothing).
   */
  claim(job: RunJob): Promise<GiveBack>;
}

/** What `job`'s operation id names. */
export function claimedRunOf(job: RunJob): ClaimedRun {
  if (job.kind === 'fleet') {
    const command = upgradeRequest(job);
    return { kind: 'fleet', command: command.command, args: commandArgs(command) };
  }
  const request = { ...job.request, operationId: job.operationId } as CommandRequest;
  return { kind: 'server', server: job.server, command: request.command, args: commandArgs(request) };
}

/** Whether two claims name the same run (arguments compared as JSON, as they are stored). */
export function sameClaim(a: ClaimedRun, b: ClaimedRun): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)));
}

/** The refusal of an id that names another run: `serve`'s words and details. */
export function idTaken(operationId: string, existing: ClaimedRun): BootstrapError {
  return new BootstrapError(
    'INVALID_REQUEST',
    `operation id ${operationId} is already used by another request`,
    {
      operationId,
      existing,
    },
  );
}

/** Claims kept in this process (a function run by hand, without a run table). */
export function createMemoryRunClaims(): RunClaims {
  const claims = new Map<string, { run: ClaimedRun }>();
  return {
    async claim(job) {
      const run = claimedRunOf(job);
      const existing = claims.get(job.operationId);
      if (existing !== undefined) {
        if (!sameClaim(existing.run, run)) throw idTaken(job.operationId, existing.run);
        return async () => {};
      }
      const mine = { run };
      claims.set(job.operationId, mine);
      return async () => {
        if (claims.get(job.operationId) === mine) claims.delete(job.operationId);
      };
    },
  };
}
