/**
 * The in-process driver of runs that outlast their request (`serve`, tests): `dispatch` starts a
 * job in the background and returns at once, as StartExecution does in the cloud. A fleet job is
 * `runFleet` over the targets, its record (with the targets so far) in the run store; a server
 * job follows the operation the API started with the same poll and deliver steps a state machine
 * runs. Every callback goes through the delivery ledger: once per operation. A job already
 * dispatched (the same operation id again) starts nothing, as StartExecution with the same name
 * starts nothing; a job that names another operation under that id is refused (SPEC 7.1: "never
 * a second run"), as the API refuses the same id with other arguments.
 */
import { isDeepStrictEqual } from 'node:util';
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { BootstrapError, errorBody } from '../errors.ts';
import type { CommandRequest } from '../operations/types.ts';
import { present } from '../optional.ts';
import {
  commandArgs,
  type Deliver,
  type FleetResult,
  type TargetReport,
  withCallbackOutcome,
} from './aggregate.ts';
import type { Fleet } from './fleet.ts';
import type { FleetJob, RunJob, ServerJob } from './job.ts';
import { DEFAULT_CANARY } from './rate.ts';
import { runFleet } from './run-fleet.ts';
import type { DeliveryLedger, RunStore } from './run-store.ts';
import { deliverOnce } from './steps/deliver.ts';
import { deliverOperation, pollOperation } from './steps/operation.ts';
import { upgradeRequest } from './steps/plan.ts';
import { commandWork } from './work.ts';

export interface LocalRunsDeps {
  fleet: Fleet;
  store: RunStore;
  ledger: DeliveryLedger;
  deliver?: Deliver;
  /** How often a server job's journal is read; default 100 ms. */
  pollMs?: number;
  log?: (line: string) => void;
  now?: () => Date;
}

export interface LocalRuns {
  dispatch(job: RunJob): Promise<void>;
  /** Resolves once no job is running. */
  idle(): Promise<void>;
  /** Jobs running now. */
  running(): number;
  /**
   * Stops following servers' operations, which go on on their hosts (`serve` stopping): a
   * follower no longer reads the host nor calls back. Fleet runs go on to their end.
   */
  stop(): void;
}

async function runFleetJob(deps: LocalRunsDeps, job: FleetJob): Promise<void> {
  const now = deps.now ?? (() => new Date());
  const command = upgradeRequest(job);
  await deps.store.create({
    operationId: job.operationId,
    command: command.command,
    args: commandArgs(command),
    status: 'running',
    startedAt: now().toISOString(),
  });
  let configUrl: string | null = null;
  const work = commandWork(deps.fleet, command, job.operationId, {
    waitLockSeconds: job.waitLockSeconds,
    onConfig: (config: BootstrapConfig) => {
      configUrl ??= config.server.callbackUrl;
    },
  });
  const targets: TargetReport[] = [];
  const result = await runFleet({
    operationId: job.operationId,
    command: command.command,
    args: commandArgs(command),
    targets: deps.fleet.select(job.select),
    canary: job.canary ?? DEFAULT_CANARY,
    ...present({
      maxConcurrency: job.maxConcurrency,
      maxErrors: job.maxErrors,
      healthGate: job.healthGate,
      targetTimeoutMs: job.targetTimeoutMs,
    }),
    runTarget: work.runTarget,
    healthCheck: work.healthCheck,
    release: (server) => deps.fleet.release?.(server),
    onProgress: (event) => {
      if (event.type === 'finished') {
        targets.push(event.report);
        if (event.report.status === 'failed') void deps.store.addFailure(job.operationId);
        void deps.store.update(job.operationId, { targets: [...targets] });
      }
    },
    now,
  });
  let final: FleetResult = result;
  const url = job.callbackUrl ?? configUrl ?? undefined;
  if (url !== undefined) {
    const outcome = await deliverOnce(deps, url, result, `/fleet/operations/${job.operationId}`);
    final = withCallbackOutcome(result, outcome);
  }
  await deps.store.update(job.operationId, {
    status: final.status,
    finishedAt: final.finishedAt,
    summary: final.summary,
    targets: final.targets,
    ...present({ callback: final.callback }),
  });
}

async function followServerJob(deps: LocalRunsDeps, job: ServerJob, stopped: AbortSignal): Promise<void> {
  const now = deps.now ?? (() => new Date());
  const run = {
    operationId: job.operationId,
    server: job.server,
    request: job.request,
    startedAt: now().toISOString(),
    ...present({ callbackUrl: job.callbackUrl }),
  };
  let polls = 0;
  for (;;) {
    if (stopped.aborted) return;
    const answer = await pollOperation(deps, { ...run, polls });
    polls = answer.polls;
    if (answer.done) break;
    // A host that cannot be read is polled for up to a day (MAX_POLLS): a stop must not wait on it.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deps.pollMs ?? 100);
      stopped.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  if (stopped.aborted) return;
  await deliverOperation(deps, run);
}

/** What an operation id names: a fleet run or one server's operation, its command and arguments. */
interface Named {
  kind: RunJob['kind'];
  server?: string;
  command: string;
  args: Record<string, unknown>;
}

function namedBy(job: RunJob): Named {
  if (job.kind === 'fleet') {
    const command = upgradeRequest(job);
    return { kind: 'fleet', command: command.command, args: commandArgs(command) };
  }
  const request = { ...job.request, operationId: job.operationId } as CommandRequest;
  return { kind: 'server', server: job.server, command: request.command, args: commandArgs(request) };
}

/** A driver that runs jobs in this process; a job's unexpected failure is logged. */
export function createLocalRuns(deps: LocalRunsDeps): LocalRuns {
  const jobs = new Set<Promise<void>>();
  const stopping = new AbortController();
  const dispatched = new Map<string, Named>();
  return {
    async dispatch(job) {
      const named = namedBy(job);
      const existing = dispatched.get(job.operationId);
      if (existing) {
        // The callback URL, rates and selection are not what names the operation: a repeat that
        // changes them still answers the run already going, as a repeated request does.
        if (isDeepStrictEqual(existing, named)) return;
        throw new BootstrapError(
          'INVALID_REQUEST',
          `operation id ${job.operationId} is already used by another request`,
          { operationId: job.operationId, existing },
        );
      }
      dispatched.set(job.operationId, named);
      const work = (
        job.kind === 'fleet' ? runFleetJob(deps, job) : followServerJob(deps, job, stopping.signal)
      ).catch((error: unknown) => {
        const body = errorBody(error);
        deps.log?.(`run ${job.operationId} failed: ${body.code} ${body.message}`);
      });
      jobs.add(work);
      void work.finally(() => jobs.delete(work));
    },
    async idle() {
      while (jobs.size > 0) await Promise.all([...jobs]);
    },
    running: () => jobs.size,
    stop: () => stopping.abort(),
  };
}
