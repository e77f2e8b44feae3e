/**
 * A single long operation followed to its end (SPEC 7.1's provision and upgrade, 7.3 v2): the API
 * starts it on the host before its 202; a state machine then waits, polls the host's journal
 * with `operation.get` (a short step), and loops until the journal ends; then the callback is
 * delivered once, to the request's `callbackUrl` or else the host's `[server] callback_url`.
 * Locally the in-process driver runs the same two steps in a loop.
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../../config/names.ts';
import { BootstrapError, errorBody } from '../../errors.ts';
import { type Journal, runCommand } from '../../operations/index.ts';
import type { CommandRequest } from '../../operations/types.ts';
import { aggregate, commandArgs, type TargetReport, withCallbackOutcome } from '../aggregate.ts';
import { longRequestSchema } from '../job.ts';
import { failedReport } from '../target.ts';
import { configCallbackUrl, journalOutcome } from '../work.ts';
import { deliverOnce, serverDeliveryKey } from './deliver.ts';
import type { StepDeps } from './deps.ts';

export const operationRunSchema = z.looseObject({
  operationId: z.string().regex(OPERATION_ID_PATTERN),
  server: z.string().min(1),
  request: longRequestSchema,
  callbackUrl: z.string().optional(),
  startedAt: z.string(),
  /** Polls so far (the in-process driver), or the last poll's answer (the state machine's `$.poll`). */
  polls: z.number().int().min(0).optional(),
  poll: z.looseObject({ polls: z.number().int().min(0) }).optional(),
});
export type OperationRun = z.infer<typeof operationRunSchema>;

/** How long an operation is followed before its result is delivered with what is known: a day. */
export const FOLLOW_MS = 24 * 60 * 60 * 1000;

/**
 * The in-process driver's limit on polls (it polls every `pollMs`, local-runs.ts): 8640, a day at
 * 10 s. The state machine never reaches it: it waits `pollWaitSeconds` between polls, and its
 * day of following (`FOLLOW_MS`) ends after `pollsWithin(FOLLOW_MS)` (343) polls.
 */
export const MAX_POLLS = 8640;

/** The state machine's first waits, while most operations end: 10 s, for the first 30 polls. */
export const FIRST_WAIT_SECONDS = 10;
const FIRST_WAITS = 30;
/** The longest wait between two polls: 5 minutes, reached after about an hour. */
export const LONGEST_WAIT_SECONDS = 300;

/**
 * The wait before the next poll after `polls` polls (the state machine's Wait reads it from the
 * poll's answer): 10 s for the first 30, then each a tenth longer than the last, up to 5 minutes.
 * Step Functions keeps 25,000 history events an execution and a poll costs 9: at 10 s throughout
 * a day of following would be 8640 polls (77,760 events); on this schedule it is 343 (about
 * 3,100 events), and the state machine's two days 631.
 */
export function pollWaitSeconds(polls: number): number {
  if (polls <= FIRST_WAITS) return FIRST_WAIT_SECONDS;
  return Math.min(LONGEST_WAIT_SECONDS, Math.round(FIRST_WAIT_SECONDS * 1.1 ** (polls - FIRST_WAITS)));
}

/** The polls the state machine makes in `ms` of waiting on `pollWaitSeconds` (polls taking no time). */
export function pollsWithin(ms: number): number {
  let waited = FIRST_WAIT_SECONDS * 1000;
  let polls = 0;
  while (waited <= ms) {
    polls += 1;
    waited += pollWaitSeconds(polls) * 1000;
  }
  return polls;
}

export interface PollAnswer {
  done: boolean;
  polls: number;
  status: string;
  /** Seconds to wait before the next poll (the state machine's `SecondsPath`). */
  wait: number;
}

type OperationDeps = Pick<StepDeps, 'fleet' | 'ledger' | 'deliver' | 'store' | 'now'>;

async function readJournal(deps: OperationDeps, run: OperationRun) {
  return (await runCommand(deps.fleet.target(run.server), {
    command: 'operation.get',
    operationId: run.operationId,
  })) as Journal;
}

/**
 * One poll: done once the journal ended, or once the operation has been followed for a day since
 * its start (`FOLLOW_MS`; or `MAX_POLLS` polls); a host that cannot be read is polled again. The
 * deliver step then reports what is known: a journal still running is a failed target
 * (TRANSPORT_TIMEOUT, "still running when following ended"), so the callback still goes out.
 * A read only: the state machine may run it again.
 */
export async function pollOperation(deps: OperationDeps, run: OperationRun): Promise<PollAnswer> {
  const now = deps.now ?? (() => new Date());
  const polls = (run.poll?.polls ?? run.polls ?? 0) + 1;
  const over = () => polls >= MAX_POLLS || now().getTime() - Date.parse(run.startedAt) >= FOLLOW_MS;
  const wait = pollWaitSeconds(polls);
  try {
    const journal = await readJournal(deps, run);
    return { done: journal.status !== 'running' || over(), polls, status: journal.status, wait };
  } catch (error) {
    return { done: over(), polls, status: errorBody(error).code, wait };
  }
}

/**
 * The operation's result, as one target of a fleet result, delivered once to its callback. The
 * state machine may run it again (its own failure is retried): the journal is read again and the
 * delivery ledger, keyed by the operation and server, POSTs once.
 */
export async function deliverOperation(deps: OperationDeps, run: OperationRun) {
  const now = deps.now ?? (() => new Date());
  let report: TargetReport;
  try {
    const journal = await readJournal(deps, run);
    if (journal.status === 'running') {
      throw new BootstrapError('TRANSPORT_TIMEOUT', `${run.server}: still running when following ended`, {
        server: run.server,
        operationId: run.operationId,
        journal,
      });
    }
    report = { server: run.server, status: 'succeeded', result: journalOutcome(journal) };
  } catch (error) {
    report = failedReport(run.server, error);
  }
  const request = { ...run.request, operationId: run.operationId } as CommandRequest;
  let result = aggregate({
    operationId: run.operationId,
    command: request.command,
    args: commandArgs(request),
    startedAt: new Date(run.startedAt),
    finishedAt: now(),
    targets: [report],
  });
  // SPEC 2.1: `[server] callback_url` is used when the request names none. `operation.get` follows
  // the journal only and never reads bootstrap.ini, so the host's file is read here, once the
  // operation has ended (a read: no lock, no change); an unreadable host names no callback.
  const url = run.callbackUrl ?? (await configCallbackUrl(deps.fleet, run.server));
  if (url !== undefined) {
    const location = `/servers/${encodeURIComponent(run.server)}/operations/${encodeURIComponent(run.operationId)}`;
    result = withCallbackOutcome(
      result,
      await deliverOnce(deps, url, result, location, serverDeliveryKey(run.operationId, run.server)),
    );
  }
  return result;
}
