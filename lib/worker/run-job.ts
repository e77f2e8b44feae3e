/**
 * The worker: follows one long job (one server, or a batch upgrade over a selection) to its end
 * and calls back once. A function invocation has a time limit (Lambda's 15 minutes); when the
 * remaining time runs low the worker stops following, and hands a continuation to a fresh
 * invocation of itself. Nothing is lost, because the operations go on on their hosts whoever
 * follows them; nothing runs twice, because every target is started under the job's one
 * operation id and a host answers a known id with its journal instead of running it again.
 */
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import {
  aggregate,
  type CallbackOutcome,
  commandArgs,
  DEFAULT_CANARY,
  type FleetResult,
  resolveRateControl,
  type TargetReport,
  withCallbackOutcome,
} from '../fleet/index.ts';
import type { CommandRequest } from '../operations/types.ts';
import type { Fleet } from '../orchestrate/fleet.ts';
import type { Deliver } from '../orchestrate/run.ts';
import type { Continuation, WorkerEvent, WorkerJob } from './job.ts';
import { runSlice } from './slice.ts';
import type { FleetStore } from './store.ts';

/** One structured log record of the worker (no secret, no callback URL). */
export interface WorkerLogRecord {
  event: 'worker.start' | 'worker.handover' | 'worker.finished' | 'worker.gave-up';
  operationId: string;
  kind: WorkerJob['kind'];
  invocation: number;
  pending?: number;
  status?: string;
  callback?: CallbackOutcome;
}

export interface WorkerDeps {
  fleet: Fleet;
  /** Delivers the callback; without it a callback URL is recorded as not delivered. */
  deliver?: Deliver;
  /** False: send no callback at all (a batch state machine's target step; its aggregate step calls back). */
  callbacks?: boolean;
  /** Milliseconds this invocation has left (Lambda's `context.getRemainingTimeInMillis`); none: no limit. */
  remainingTimeMs?: () => number;
  /** Starts a fresh invocation of the worker with this event (asynchronous Lambda Invoke). */
  handOver?: (event: WorkerEvent) => Promise<void>;
  /** Kept back to stop following and hand over. Default 30 s. */
  handOverReserveMs?: number;
  /** How often `remainingTimeMs` is asked while following. Default 250 ms. */
  clockCheckMs?: number;
  /** What a callback may need, retries included (5 × 10 s plus backoff). Default 180 s. */
  deliveryReserveMs?: number;
  /** Past this many invocations the worker stops following and reports what is left as timed out. */
  maxInvocations?: number;
  /** Fleet runs are recorded here (`GET /fleet/operations/{id}`). */
  store?: FleetStore;
  log?: (record: WorkerLogRecord) => void;
  now?: () => Date;
}

export type WorkerOutcome =
  | { state: 'finished'; result: FleetResult }
  | { state: 'handedOver'; event: WorkerEvent };

/** The command each target runs, under the job's operation id. */
export function jobRequest(job: WorkerJob): CommandRequest {
  if (job.kind === 'fleet') {
    return {
      command: 'product.upgrade',
      product: job.product,
      version: job.version,
      operationId: job.operationId,
    };
  }
  return { ...job.request, operationId: job.operationId } as CommandRequest;
}

function firstState(fleet: Fleet, job: WorkerJob, now: Date): Continuation {
  const targets = job.kind === 'fleet' ? fleet.select(job.select) : [job.server];
  const rate =
    job.kind === 'fleet'
      ? resolveRateControl(
          {
            maxConcurrency: job.maxConcurrency,
            maxErrors: job.maxErrors,
            canary: job.canary ?? DEFAULT_CANARY,
          },
          targets.length,
        )
      : { maxConcurrency: 1, maxErrors: 0, canary: 0 };
  return {
    invocation: 1,
    startedAt: now.toISOString(),
    targets,
    rate,
    canariesLeft: rate.canary,
    stopped: false,
    done: [],
    configCallbackUrl: null,
  };
}

/**
 * Runs (or goes on with) one worker event; resolves with the final result once the callback is
 * sent, or with the event handed to the next invocation. Rejects only when the job cannot start
 * (a selector the inventory no longer knows) or the hand-over itself fails.
 */
export async function runWorker(deps: WorkerDeps, event: WorkerEvent): Promise<WorkerOutcome> {
  const now = deps.now ?? (() => new Date());
  const { job } = event;
  const state = event.continuation ?? firstState(deps.fleet, job, now());
  const log = (record: Omit<WorkerLogRecord, 'operationId' | 'kind' | 'invocation'>) =>
    deps.log?.({ operationId: job.operationId, kind: job.kind, invocation: state.invocation, ...record });
  const request = jobRequest(job);
  if (job.kind === 'fleet' && state.invocation === 1) {
    deps.store?.put({
      operationId: job.operationId,
      command: request.command,
      args: commandArgs(request),
      status: 'running',
      startedAt: state.startedAt,
    });
  }
  if (state.result !== undefined) return finish(deps, event, state, state.result as FleetResult, log);
  log({ event: 'worker.start', pending: state.targets.length - state.done.length });

  const maxInvocations = deps.maxInvocations ?? 50;
  if (state.invocation > maxInvocations) {
    log({ event: 'worker.gave-up' });
    return finish(deps, event, state, giveUp(state, job, request, now(), maxInvocations), log);
  }

  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const remainingTimeMs = deps.remainingTimeMs;
  if (remainingTimeMs !== undefined && deps.handOver !== undefined) {
    // The clock is asked again and again rather than once: it is the caller's (Lambda's context,
    // or a test's), and only it knows how much time is left.
    const reserve = deps.handOverReserveMs ?? 30_000;
    const check = () => {
      if (remainingTimeMs() > reserve) return;
      controller.abort();
      clearInterval(timer);
    };
    check();
    if (!controller.signal.aborted) timer = setInterval(check, deps.clockCheckMs ?? 250);
  }
  let configCallbackUrl = state.configCallbackUrl;
  const onConfig = (config: BootstrapConfig) => {
    configCallbackUrl ??= config.server.callbackUrl;
  };
  let slice: Awaited<ReturnType<typeof runSlice>>;
  try {
    slice = await runSlice({ fleet: deps.fleet, job, request, state, signal: controller.signal, onConfig });
  } finally {
    clearInterval(timer);
  }
  const next: Continuation = {
    ...state,
    invocation: state.invocation + 1,
    canariesLeft: Math.max(0, state.canariesLeft - slice.canariesSucceeded),
    stopped:
      state.stopped || slice.stopReason === 'MAX_ERRORS_EXCEEDED' || slice.stopReason === 'CANARY_FAILED',
    done: [...state.done, ...slice.done],
    configCallbackUrl,
  };
  if (next.done.length < next.targets.length) {
    log({ event: 'worker.handover', pending: next.targets.length - next.done.length });
    const handed: WorkerEvent = { job, continuation: next };
    await deps.handOver!(handed);
    return { state: 'handedOver', event: handed };
  }
  const result = aggregateAll(next, job, request, now());
  return finish(deps, event, next, result, log);
}

function aggregateAll(state: Continuation, job: WorkerJob, request: CommandRequest, now: Date): FleetResult {
  const byServer = new Map(state.done.map((report) => [report.server, report as TargetReport]));
  return aggregate({
    operationId: job.operationId,
    command: request.command,
    args: commandArgs(request),
    startedAt: new Date(state.startedAt),
    finishedAt: now,
    targets: state.targets.map((server) => byServer.get(server) ?? { server, status: 'skipped' }),
  });
}

function giveUp(
  state: Continuation,
  job: WorkerJob,
  request: CommandRequest,
  now: Date,
  maxInvocations: number,
): FleetResult {
  const finished = new Set(state.done.map((report) => report.server));
  const left: TargetReport[] = state.targets
    .filter((server) => !finished.has(server))
    .map((server) => ({
      server,
      status: 'failed',
      error: new BootstrapError(
        'TRANSPORT_TIMEOUT',
        `${server}: stopped following ${job.operationId} after ${maxInvocations} invocations; it may still run on the host`,
        { server, operationId: job.operationId, reason: 'WORKER_GAVE_UP' },
      ).toJSON(),
    }));
  return aggregateAll({ ...state, done: [...state.done, ...left] }, job, request, now);
}

async function finish(
  deps: WorkerDeps,
  event: WorkerEvent,
  state: Continuation,
  result: FleetResult,
  log: (record: Omit<WorkerLogRecord, 'operationId' | 'kind' | 'invocation'>) => void,
): Promise<WorkerOutcome> {
  const { job } = event;
  const url =
    deps.callbacks === false ? undefined : (job.callbackUrl ?? state.configCallbackUrl ?? undefined);
  let final = result;
  if (url !== undefined) {
    // Too little time left for every retry of the callback: a fresh invocation delivers it.
    const lastChance = state.invocation > (deps.maxInvocations ?? 50);
    const remaining = deps.remainingTimeMs?.() ?? Number.POSITIVE_INFINITY;
    if (deps.handOver && !lastChance && remaining < (deps.deliveryReserveMs ?? 180_000)) {
      const handed: WorkerEvent = {
        job,
        continuation: { ...state, invocation: state.invocation + 1, result },
      };
      log({ event: 'worker.handover', pending: 0 });
      await deps.handOver(handed);
      return { state: 'handedOver', event: handed };
    }
    const outcome: CallbackOutcome = deps.deliver
      ? await deps.deliver(url, result)
      : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' };
    final = withCallbackOutcome(result, outcome);
  }
  if (job.kind === 'fleet') deps.store?.put(final);
  log({
    event: 'worker.finished',
    status: final.status,
    ...(final.callback === undefined ? {} : { callback: final.callback }),
  });
  return { state: 'finished', result: final };
}
