/**
 * Operation ids taken before anything runs (SPEC 7.1: "The same `operationId` sent again answers
 * with the same operation, never a second run"; 7.3: "starting it twice starts it once"). In the
 * cloud a run is a Step Functions execution named by its id, but one server's operation and a
 * fleet run go to two state machines (two namespaces of names), and a server's operation is
 * started on its host before its execution: an execution's name alone cannot refuse the same id
 * on another server, or for a fleet run. So an id is claimed first, recording what it names —
 * one server's operation (the server, the command and its arguments) or a fleet run (the
 * command and its arguments) — and a claim that names anything else is refused
 * (INVALID_REQUEST), as `serve` refuses it (lib/fleet/local-runs.ts), by the one rule of
 * lib/operations/same-request.ts.
 */
import type { RunJob } from '../fleet/job.ts';
import { type NamedRun, namedRunOf } from '../fleet/named-run.ts';
import { assertSameRequest } from '../operations/same-request.ts';

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

/** Claims kept in this process (a function run by hand, without a run table). */
export function createMemoryRunClaims(): RunClaims {
  const claims = new Map<string, { run: NamedRun }>();
  return {
    async claim(job) {
      const run = namedRunOf(job);
      const existing = claims.get(job.operationId);
      if (existing !== undefined) {
        assertSameRequest(job.operationId, run, existing.run);
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
