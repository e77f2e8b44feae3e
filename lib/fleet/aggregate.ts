/**
 * The aggregated result of a fleet run (SPEC 4): what the CLI prints with `--json`, what the
 * console-triggered function returns and what the callback POSTs.
 */
import type { ErrorBody } from '../errors.ts';
import type { CommandName, CommandRequest } from '../operations/types.ts';

export type TargetStatus = 'succeeded' | 'failed' | 'unreachable' | 'skipped';
export type FleetStatus = 'succeeded' | 'partial' | 'failed';

/** One target in the result; `result` only when it succeeded, `error` when it failed or was unreachable. */
export type TargetReport =
  | { server: string; status: 'succeeded'; result: unknown }
  | { server: string; status: 'failed' | 'unreachable'; error: ErrorBody }
  | { server: string; status: 'skipped' };

export interface FleetSummary {
  total: number;
  succeeded: number;
  failed: number;
  unreachable: number;
  skipped: number;
}

/** SPEC 5's delivery record, added by whoever POSTed the result; never changes `status`. */
export interface CallbackOutcome {
  delivered: boolean;
  attempts: number;
  lastError?: string;
}

/** Delivers a run's result to a callback URL (SPEC 5); how each driver hands its result over. */
export type Deliver = (url: string, result: FleetResult) => Promise<CallbackOutcome>;

export interface FleetResult {
  operationId: string;
  command: CommandName;
  args: Record<string, unknown>;
  status: FleetStatus;
  startedAt: string;
  finishedAt: string;
  summary: FleetSummary;
  targets: TargetReport[];
  callback?: CallbackOutcome;
}

export interface AggregateInput {
  operationId: string;
  command: CommandName;
  args: Record<string, unknown>;
  startedAt: Date;
  finishedAt: Date;
  /** One report per target, already in selection order. */
  targets: TargetReport[];
}

/** Counts the reports and decides the run's status: every target succeeded, none did, or some did. */
export function aggregate(input: AggregateInput): FleetResult {
  const summary = summarize(input.targets);
  return {
    operationId: input.operationId,
    command: input.command,
    args: input.args,
    status: fleetStatus(summary),
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    summary,
    targets: input.targets,
  };
}

/** The counts of SPEC 4's `summary`; they always add up to `total`. */
export function summarize(targets: readonly TargetReport[]): FleetSummary {
  const summary: FleetSummary = {
    total: targets.length,
    succeeded: 0,
    failed: 0,
    unreachable: 0,
    skipped: 0,
  };
  for (const target of targets) summary[target.status] += 1;
  return summary;
}

/**
 * `succeeded` when every target succeeded, `failed` when none did, `partial` otherwise. A run
 * over zero targets is `succeeded`: nothing failed, and nothing was left undone (an empty
 * selection is the inventory's to refuse, with `UNKNOWN_SERVER`, when it names nothing known).
 */
export function fleetStatus(summary: FleetSummary): FleetStatus {
  if (summary.succeeded === summary.total) return 'succeeded';
  if (summary.succeeded === 0) return 'failed';
  return 'partial';
}

/** The result with the callback's delivery record (SPEC 5) added; the status stays what it was. */
export function withCallbackOutcome(result: FleetResult, outcome: CallbackOutcome): FleetResult {
  const callback: CallbackOutcome = { delivered: outcome.delivered, attempts: outcome.attempts };
  if (outcome.lastError !== undefined) callback.lastError = outcome.lastError;
  return { ...result, callback };
}

/** The `args` of a command request as the result shows them: everything but `command` and `operationId`. */
export function commandArgs(request: CommandRequest): Record<string, unknown> {
  const { command: _command, ...rest } = request;
  const args: Record<string, unknown> = { ...rest };
  delete args['operationId'];
  return args;
}
