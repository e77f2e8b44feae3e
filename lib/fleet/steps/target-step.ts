/**
 * One target of a fleet run on Step Functions (a Distributed Map child), and one canary (the
 * canary loop's step). SPEC 4's gate comes first: the run's shared failure count is read
 * (strongly consistent) BEFORE the host is touched, and once it exceeds `maxErrors` the target
 * is `skipped`, never started. The report is kept in the runs bucket, so a step delivered twice
 * answers the kept report instead of working the host again. A failure is counted exactly once
 * however often the step runs: a kept failed report is counted whenever it is answered, under a
 * record keyed by the target that makes every count after the first a no-op. A target's own
 * failure is its report, never the step's failure: the Map's children always succeed, so running
 * targets always finish.
 */
import { BootstrapError } from '../../errors.ts';
import { present } from '../../optional.ts';
import type { TargetReport } from '../aggregate.ts';
import { advanceCanary, type CanaryState, mayStart } from '../canary.ts';
import { countsAsFailure, runOneTarget } from '../target.ts';
import { countFailureOnce, readJson, runKeys, type StepDeps, workOf } from './deps.ts';
import type { FleetRunState, TargetGaveUpInput, TargetItem, TargetStepInput } from './events.ts';
import { upgradeRequest } from './plan.ts';

/**
 * A report and its place in the selection; what a Map child answers. `hostCallbackUrl`: what the
 * host's `[server] callback_url` said (null: none), where its bootstrap.ini was read — the
 * aggregate step's vote when the request names no callback; never part of the result.
 */
export type IndexedReport = TargetReport & { index: number; hostCallbackUrl?: string | null };

/** A child's output ends in the ResultWriter's files; Step Functions limits it to 256 KiB. */
const MAX_REPORT_CHARS = 200_000;

function fit(report: IndexedReport): IndexedReport {
  if (JSON.stringify(report).length <= MAX_REPORT_CHARS) return report;
  if (report.status === 'succeeded') return { ...report, result: { truncated: true } };
  if (report.status === 'skipped') return report;
  const details: Record<string, unknown> = { truncated: true };
  for (const [key, value] of Object.entries(report.error.details)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) details[key] = value;
  }
  return { ...report, error: { ...report.error, message: report.error.message.slice(0, 4096), details } };
}

interface Work {
  operationId: string;
  request: TargetStepInput['request'];
  healthGate: boolean;
  item: TargetItem;
  key: string;
}

/**
 * The report an earlier run of this step kept, its failure counted. The step that kept it may
 * have thrown before its count was made (the run store throttled, the invocation gone) and Step
 * Functions runs a failed step again: answering the kept report without counting would lose the
 * failure, and the run would go on past `maxErrors` (SPEC 4, 7.3). When the count was made,
 * `countFailureOnce` finds it and does not count again.
 */
async function keptReport(
  deps: StepDeps,
  operationId: string,
  key: string,
): Promise<IndexedReport | undefined> {
  const kept = await readJson<IndexedReport>(deps.blobs, key);
  if (kept && countsAsFailure(kept)) await countFailureOnce(deps, operationId, kept.index);
  return kept;
}

/** Works the item's host once: a kept report answers a repeat; a failure is counted once. */
async function workOnce(deps: StepDeps, work: Work): Promise<IndexedReport> {
  const kept = await keptReport(deps, work.operationId, work.key);
  if (kept) return kept;
  const { operationId, request, item } = work;
  // Marked before the host is touched: a step that then fails and is throttled to the end of its
  // retries did run (runTargetGaveUp tells it from one that never started).
  await deps.blobs.put(startedKey(work.key), '{}');
  const command = upgradeRequest(request);
  let hostCallbackUrl: string | null | undefined;
  const target = workOf(deps, command, operationId, {
    waitLockSeconds: request.waitLockSeconds,
    onConfig: (config) => {
      hostCallbackUrl = config.server.callbackUrl ?? null;
    },
  });
  const report = await runOneTarget(item.server, {
    command: command.command,
    runTarget: target.runTarget,
    healthCheck: target.healthCheck,
    healthGate: work.healthGate,
    timeoutMs: request.targetTimeoutMs,
  });
  // This invocation is done with the host: its connection need not outlive it (a frozen
  // container's would die meanwhile anyway).
  deps.fleet.release?.(item.server);
  const indexed = fit({ ...report, index: item.index, ...present({ hostCallbackUrl }) });
  // Kept before it is counted: should the count throw, the retry answers this report (and
  // counts it) instead of working the host again.
  await deps.blobs.put(work.key, JSON.stringify(indexed));
  if (countsAsFailure(report)) await countFailureOnce(deps, operationId, item.index);
  await deps.store.recordTarget(operationId, report);
  return indexed;
}

/** A Map child: the gate, then the target; never rejects for the target's own failure. */
export async function runTargetStep(deps: StepDeps, input: TargetStepInput): Promise<IndexedReport> {
  const key = runKeys(input.operationId).report(input.item.index);
  // Before the gate: a target that already ran answers its report even once the run has stopped.
  const kept = await keptReport(deps, input.operationId, key);
  if (kept) return kept;
  const skipped: IndexedReport = { server: input.item.server, status: 'skipped', index: input.item.index };
  const skip = async () => {
    await deps.store.recordTarget(input.operationId, { server: input.item.server, status: 'skipped' });
    return skipped;
  };
  if (deps.stoppedRuns?.has(input.operationId)) return skip();
  const record = await deps.store.get(input.operationId);
  if (!mayStart(record?.failures ?? 0, input.maxErrors)) {
    deps.stoppedRuns?.add(input.operationId);
    return skip();
  }
  return workOnce(deps, { ...input, key });
}

/** The report of a target whose step failed for good (not the target's own failure). */
export function stepFailedReport(item: TargetItem, failure: string): IndexedReport {
  const message = `${item.server}: its step failed: ${failure}`.slice(0, 4096);
  const error = new BootstrapError('INTERNAL', message, { server: item.server });
  return { server: item.server, status: 'failed', error: error.toJSON(), index: item.index };
}

/** Lambda's throttling: a step that failed with it to the end may never have run at all. */
export const THROTTLED = 'Lambda.TooManyRequestsException';

/** Where a target's step marks that it went on to work the host (beside its report). */
export function startedKey(reportKey: string): string {
  return `${reportKey}.started`;
}

/**
 * A step that ended throttled never touched its host when no run of it got as far as the host
 * (no started mark): skipped, not failed. One throttled only after an earlier try began the work
 * did run, and its outcome is unknown: a failure.
 */
export async function neverStarted(deps: StepDeps, reportKey: string, error: string): Promise<boolean> {
  return error.startsWith(THROTTLED) && (await deps.blobs.get(startedKey(reportKey))) === undefined;
}

/**
 * A Map child whose target step failed for good, every retry spent (the run store or the runs
 * bucket did not answer, the invocation died): the state machine catches it here, so that its
 * failure still counts toward `maxErrors` before the next targets pass the gate (SPEC 4). The
 * report the step kept, if it kept one, answers (and is counted once); else the target failed
 * with INTERNAL, kept and counted like any failure — or, throttled to the end, was never
 * started: skipped. Should this step fail too, the child fails and the aggregate step still
 * reports the target from what was kept.
 */
export async function runTargetGaveUp(deps: StepDeps, input: TargetGaveUpInput): Promise<IndexedReport> {
  const { operationId, item } = input;
  const key = runKeys(operationId).report(item.index);
  const kept = await keptReport(deps, operationId, key);
  if (kept) return kept;
  const error = input.stepFailure.Error ?? 'States.TaskFailed';
  if (await neverStarted(deps, key, error)) {
    await deps.store.recordTarget(operationId, { server: item.server, status: 'skipped' });
    return { server: item.server, status: 'skipped', index: item.index };
  }
  const report = stepFailedReport(item, `${error}: ${input.stepFailure.Cause ?? ''}`);
  await deps.blobs.put(key, JSON.stringify(report));
  await countFailureOnce(deps, operationId, item.index);
  const { index: _index, ...plain } = report;
  await deps.store.recordTarget(operationId, plain as TargetReport);
  return report;
}

/** Unreachable canaries one step tries in turn (each at most its connect timeout, 15 s by default). */
export const UNREACHABLE_CANARIES_PER_STEP = 20;

/**
 * One step of the canary loop: the target at `plan.canary.next`, then the next state. When the
 * stage is done and the run goes on, the rest of the selection is written for the Map.
 */
export async function runCanaryStep(deps: StepDeps, run: FleetRunState) {
  const { plan, operationId } = run;
  if (plan.canary.done) return plan.canary;
  const keys = runKeys(operationId);
  const items = (await readJson<TargetItem[]>(deps.blobs, keys.targets)) ?? [];
  let state: CanaryState = plan.canary;
  // An unreachable canary proves nothing and the next takes its place (SPEC 4): this step goes on
  // to it itself, up to UNREACHABLE_CANARIES_PER_STEP, rather than one state machine step each —
  // a selection that opens with thousands of unreachable hosts would otherwise spend the
  // execution's 25,000 history events (about 7 a step) before its first real canary.
  for (let tried = 0; ; tried += 1) {
    const item = items[state.next];
    if (!item) return { ...state, done: true, fleetCount: 0 };
    const report = await workOnce(deps, {
      operationId,
      request: run.request,
      healthGate: plan.healthGate,
      item,
      key: keys.canary(item.index),
    });
    state = advanceCanary(state, report, { canary: plan.rate.canary, total: plan.total });
    if (state.done || report.status !== 'unreachable' || tried + 1 >= UNREACHABLE_CANARIES_PER_STEP) break;
  }
  const rest = state.done && !state.stopped ? items.slice(state.next) : [];
  if (state.done) await deps.blobs.put(keys.fleet, JSON.stringify(rest));
  return { ...state, fleetCount: rest.length };
}
