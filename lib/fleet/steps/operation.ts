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

/** Polls before the run stops following (at the state machine's 10 s wait: a day). */
export const MAX_POLLS = 8640;

export interface PollAnswer {
  done: boolean;
  polls: number;
  status: string;
}

type OperationDeps = Pick<StepDeps, 'fleet' | 'ledger' | 'deliver' | 'store' | 'now'>;

async function readJournal(deps: OperationDeps, run: OperationRun) {
  return (await runCommand(deps.fleet.target(run.server), {
    command: 'operation.get',
    operationId: run.operationId,
  })) as Journal;
}

/** One poll: done once the journal ended, or after `MAX_POLLS`; a host that cannot be read is polled again. */
export async function pollOperation(deps: OperationDeps, run: OperationRun): Promise<PollAnswer> {
  const polls = (run.poll?.polls ?? run.polls ?? 0) + 1;
  try {
    const journal = await readJournal(deps, run);
    return { done: journal.status !== 'running' || polls >= MAX_POLLS, polls, status: journal.status };
  } catch (error) {
    return { done: polls >= MAX_POLLS, polls, status: errorBody(error).code };
  }
}

/** The operation's result, as one target of a fleet result, delivered once to its callback. */
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
