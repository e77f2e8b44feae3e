/**
 * The in-process driver of runs that outlast their request (`serve`, tests): `dispatch` starts a
 * job in the background and returns at once, as StartExecution does in the cloud. A fleet job is
 * `runFleet` over the targets, its record (with the targets so far) in the run store; a server
 * job follows the operation the API started with the same poll and deliver steps a state machine
 * runs. Every callback goes through the delivery ledger: once per operation. A job already
 * dispatched (the same operation id again) starts nothing, as StartExecution with the same name
 * starts nothing; a job that names another operation under that id is refused (SPEC 7.1: "never
 * a second run"), as the API refuses the same id with other arguments. The API reserves a
 * server job's id (`reserve`) before it starts the operation on the host, so that a refusal comes
 * before anything changes there (SPEC 2.6).
 */
import { errorBody } from '../errors.ts';
import { assertSameRequest } from '../operations/same-request.ts';
import { present } from '../optional.ts';
import { commandArgs, type Deliver, type FleetResult, withCallbackOutcome } from './aggregate.ts';
import { voteConfigCallback } from './config-callback.ts';
import type { Fleet } from './fleet.ts';
import type { FleetJob, RunJob, ServerJob } from './job.ts';
import { type NamedRun, namedRunOf } from './named-run.ts';
import { DEFAULT_CANARY } from './rate.ts';
import { runFleet } from './run-fleet.ts';
import { type DeliveryLedger, emptySummary, type RunStore } from './run-store.ts';
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
  /**
   * Takes `job`'s operation id before the job is dispatched, refusing it (INVALID_REQUEST) when it
   * already names another job, dispatched or reserved; answers the function that gives the
   * reservation back (a start that failed) and does nothing once the job is dispatched.
   */
  reserve(job: RunJob): () => void;
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
  const targets = deps.fleet.select(job.select);
  // SPEC 7.1 v2: "its status, summary and targets so far", from the start: the summary counts
  // from the total selected (as the cloud's plan step sets it), the targets from none.
  const { record } = await deps.store.create({
    operationId: job.operationId,
    command: command.command,
    args: commandArgs(command),
    status: 'running',
    startedAt: now().toISOString(),
    summary: emptySummary(targets.length),
    targets: [],
  });
  if (record.summary === undefined) {
    await deps.store.update(job.operationId, {
      summary: emptySummary(targets.length),
      targets: record.targets ?? [],
    });
  }
  const vote = voteConfigCallback();
  const work = commandWork(deps.fleet, command, job.operationId, {
    waitLockSeconds: job.waitLockSeconds,
    onConfig: vote.onConfig,
  });
  const result = await runFleet({
    operationId: job.operationId,
    command: command.command,
    args: commandArgs(command),
    targets,
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
        if (event.report.status === 'failed') void deps.store.addFailure(job.operationId);
        void deps.store.recordTarget(job.operationId, event.report);
      } else if (event.type === 'skipped') {
        void deps.store.recordTarget(job.operationId, { server: event.server, status: 'skipped' });
      }
    },
    now,
  });
  let final: FleetResult = result;
  let url = job.callbackUrl;
  if (url === undefined) {
    url = vote.agreed();
    const disagreement = vote.disagreement();
    if (disagreement !== undefined) deps.log?.(`run ${job.operationId}: ${disagreement}`);
  }
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
    // Each wait's listener goes with it: a day of polls must not pile them up on the one signal.
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopped.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, deps.pollMs ?? 100);
      stopped.addEventListener('abort', done, { once: true });
    });
  }
  if (stopped.aborted) return;
  await deliverOperation(deps, run);
}

/** An operation id taken: what it names, and whether its job runs or is only reserved (by how many). */
interface Taken {
  named: NamedRun;
  dispatched: boolean;
  reservations: number;
}

/** A driver that runs jobs in this process; a job's unexpected failure is logged. */
export function createLocalRuns(deps: LocalRunsDeps): LocalRuns {
  const jobs = new Set<Promise<void>>();
  const stopping = new AbortController();
  const taken = new Map<string, Taken>();
  /** The id's entry when it names `job` too; INVALID_REQUEST when it names another job. */
  const take = (job: RunJob): Taken | undefined => {
    const existing = taken.get(job.operationId);
    // The callback URL, rates and selection are not what names the operation: a repeat that
    // changes them still answers the run already going, as a repeated request does.
    if (existing !== undefined) assertSameRequest(job.operationId, namedRunOf(job), existing.named);
    return existing;
  };
  return {
    async dispatch(job) {
      const existing = take(job);
      if (existing?.dispatched) return;
      if (existing) existing.dispatched = true;
      else taken.set(job.operationId, { named: namedRunOf(job), dispatched: true, reservations: 0 });
      const work = (
        job.kind === 'fleet' ? runFleetJob(deps, job) : followServerJob(deps, job, stopping.signal)
      ).catch((error: unknown) => {
        const body = errorBody(error);
        deps.log?.(`run ${job.operationId} failed: ${body.code} ${body.message}`);
      });
      jobs.add(work);
      void work.finally(() => jobs.delete(work));
    },
    reserve(job) {
      let entry = take(job);
      if (entry === undefined) {
        entry = { named: namedRunOf(job), dispatched: false, reservations: 0 };
        taken.set(job.operationId, entry);
      }
      const held = entry;
      held.reservations += 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held.reservations -= 1;
        if (!held.dispatched && held.reservations === 0 && taken.get(job.operationId) === held) {
          taken.delete(job.operationId);
        }
      };
    },
    async idle() {
      while (jobs.size > 0) await Promise.all([...jobs]);
    },
    running: () => jobs.size,
    stop: () => stopping.abort(),
  };
}
