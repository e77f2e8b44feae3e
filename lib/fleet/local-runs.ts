/**
 * The in-process driver of runs that outlast their request (`serve`, tests): `dispatch` starts a
 * job in the background and returns at once, as StartExecution does in the cloud. A fleet job is
 * `runFleet` over the targets, its record (with the targets so far) in the run store; a server
 * job follows the operation the API started with the same poll and deliver steps a state machine
 * runs. Every callback goes through the delivery ledger: once per operation id. A job already
 * dispatched (the same operation id again) starts nothing.
 */
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { errorBody } from '../errors.ts';
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

async function followServerJob(deps: LocalRunsDeps, job: ServerJob): Promise<void> {
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
    const answer = await pollOperation(deps, { ...run, polls });
    polls = answer.polls;
    if (answer.done) break;
    await new Promise((resolve) => setTimeout(resolve, deps.pollMs ?? 100));
  }
  await deliverOperation(deps, run);
}

/** A driver that runs jobs in this process; a job's unexpected failure is logged. */
export function createLocalRuns(deps: LocalRunsDeps): LocalRuns {
  const jobs = new Set<Promise<void>>();
  const dispatched = new Set<string>();
  return {
    async dispatch(job) {
      if (dispatched.has(job.operationId)) return;
      dispatched.add(job.operationId);
      const work = (job.kind === 'fleet' ? runFleetJob(deps, job) : followServerJob(deps, job)).catch(
        (error: unknown) => {
          const body = errorBody(error);
          deps.log?.(`run ${job.operationId} failed: ${body.code} ${body.message}`);
        },
      );
      jobs.add(work);
      void work.finally(() => jobs.delete(work));
    },
    async idle() {
      while (jobs.size > 0) await Promise.all([...jobs]);
    },
    running: () => jobs.size,
  };
}
