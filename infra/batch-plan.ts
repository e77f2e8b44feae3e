/**
 * The contract between the batch-upgrade state machine (infra/state-machine.ts) and the code it
 * runs: when a fleet upgrade goes to Step Functions, what the execution's input is, what the
 * worker is invoked with at each step and what it answers. Plain TypeScript with no CDK in it, so
 * that functions/ can import it (the worker plans, the starters start).
 *
 * Rate control is resolved by `resolveRateControl` of lib/fleet/rate.ts — the function the
 * in-process `runFleet` uses — so a selection obeys SPEC 4 the same way on either path:
 * `maxConcurrency` becomes the Map's `MaxConcurrency`, `maxErrors` its `ToleratedFailureCount`
 * (the Map Run fails, and starts no new item, once more items have failed than that; running
 * items finish), `canary` the number of targets the canary stage runs one by one first.
 */
import type { TargetReport } from '../lib/fleet/aggregate.ts';
import { type RateControl, type RateValue, resolveRateControl } from '../lib/fleet/rate.ts';

/**
 * Selections larger than this go to Step Functions; smaller ones run in one function (with the
 * worker's own hand-over past Lambda's 15 minutes). At the default concurrency of 10 and about a
 * minute per upgrade and health check, 200 targets is some 20 minutes of work: beyond that, one
 * Map item per target keeps any single invocation short whatever the fleet's size.
 */
export const STEP_FUNCTIONS_THRESHOLD = 200;

/** A Distributed Map runs at most this many child executions at once. */
export const MAX_MAP_CONCURRENCY = 10_000;

/** Where the runs bucket keeps each execution's selection and results: `runs/<operationId>/…`. */
export const RUNS_PREFIX = 'runs/';

/** SPEC 7.1's `POST /fleet/upgrade` body, once validated. */
export interface BatchUpgradeRequest {
  select: string;
  product: string;
  version: string;
  maxConcurrency?: RateValue;
  maxErrors?: RateValue;
  canary?: RateValue;
  healthGate?: boolean;
  callbackUrl?: string;
}

/** Whether a selection of `total` targets goes to the state machine rather than one function run. */
export function usesStepFunctions(total: number): boolean {
  return total > STEP_FUNCTIONS_THRESHOLD;
}

/** What a starter (api, batch-upgrade) passes to `StartExecution` as `input`. */
export interface BatchExecutionInput {
  operationId: string;
  request: BatchUpgradeRequest;
  /** ISO time the operation was accepted; the aggregated result's `startedAt`. */
  startedAt: string;
}

/**
 * The execution's `name`: the operation id, so a repeated start with the same input is a no-op
 * (StartExecution is idempotent per name for standard workflows). Names are at most 80 characters;
 * longer operation ids keep their first 63 and a hash of the whole.
 */
export function batchExecutionName(operationId: string): string {
  if (operationId.length <= 80) return operationId;
  let hash = 0x811c9dc5;
  for (const char of operationId) hash = Math.imul(hash ^ char.codePointAt(0)!, 0x01000193) >>> 0;
  return `${operationId.slice(0, 63)}-${hash.toString(16).padStart(8, '0')}`.slice(0, 80);
}

/** One Map item: a server and its place in the selection (the aggregated result keeps that order). */
export interface BatchItem {
  server: string;
  index: number;
}

/** The object keys of one execution in the runs bucket. */
export interface BatchRunKeys {
  bucket: string;
  /** JSON array of `BatchItem`: the first `canary` targets. */
  canaryKey: string;
  /** JSON array of `BatchItem`: the rest of the selection. */
  fleetKey: string;
  /** ResultWriter prefixes; Step Functions writes `<prefix>/<map run id>/manifest.json`. */
  canaryResultsPrefix: string;
  fleetResultsPrefix: string;
  /** Where the aggregate step writes the whole aggregated result. */
  resultKey: string;
}

/** The worker's answer in `plan` mode; the state machine reads it at `$.plan`. */
export interface BatchPlan {
  total: number;
  /** Counts for this selection, `maxConcurrency` capped at `MAX_MAP_CONCURRENCY`. */
  rate: RateControl;
  healthGate: boolean;
  counts: { canary: number; fleet: number };
  runs: BatchRunKeys;
}

/** An object the worker writes to the runs bucket before it answers the plan. */
export interface BatchObject {
  key: string;
  body: string;
}

/**
 * Splits a selection into the canary stage and the rest and resolves the rate controls; the
 * worker's `plan` step writes `objects` to `bucket` and answers `plan`.
 */
export function planBatch(input: {
  operationId: string;
  request: BatchUpgradeRequest;
  targets: readonly string[];
  bucket: string;
}): { plan: BatchPlan; objects: BatchObject[] } {
  const total = input.targets.length;
  const resolved = resolveRateControl(input.request, total);
  const rate: RateControl = {
    ...resolved,
    maxConcurrency: Math.min(resolved.maxConcurrency, MAX_MAP_CONCURRENCY),
  };
  const items = input.targets.map((server, index): BatchItem => ({ server, index }));
  const base = `${RUNS_PREFIX}${input.operationId}`;
  const runs: BatchRunKeys = {
    bucket: input.bucket,
    canaryKey: `${base}/canary.json`,
    fleetKey: `${base}/fleet.json`,
    canaryResultsPrefix: `${base}/canary-results`,
    fleetResultsPrefix: `${base}/fleet-results`,
    resultKey: `${base}/result.json`,
  };
  const canary = items.slice(0, rate.canary);
  const fleet = items.slice(rate.canary);
  return {
    plan: {
      total,
      rate,
      healthGate: input.request.healthGate ?? true,
      counts: { canary: canary.length, fleet: fleet.length },
      runs,
    },
    objects: [
      { key: runs.canaryKey, body: JSON.stringify(canary) },
      { key: runs.fleetKey, body: JSON.stringify(fleet) },
    ],
  };
}

/** Why the state machine stopped starting targets; the aggregate step reports the rest `skipped`. */
export type BatchStopReason = 'CANARY_FAILED' | 'MAX_ERRORS_EXCEEDED' | 'ABORTED';

/** The worker's events from the state machine (besides its own API and hand-over events). */
export type WorkerBatchEvent =
  | ({ mode: 'plan' } & BatchExecutionInput)
  | {
      mode: 'target';
      operationId: string;
      request: BatchUpgradeRequest;
      healthGate: boolean;
      phase: 'canary' | 'fleet';
      item: BatchItem;
      /** Absent on the first call; then what the previous call answered with `status: "running"`. */
      continuation?: unknown;
    }
  | { mode: 'aggregate'; run: BatchRunState };

/**
 * The worker's answer in `target` mode. A `failed` report fails the Map item (its JSON is the
 * child execution's `Cause`, so keep it under 32 KB); `running` hands over: the state machine
 * calls again at once with `continuation`, so no invocation has to outlive Lambda's limit.
 */
export type TargetAnswer = (TargetReport & { index: number }) | { status: 'running'; continuation: unknown };

/**
 * The execution's state when it reaches the aggregate step: the input, the plan, the Map Runs'
 * ResultWriter details (when they ended normally), and why it stopped early (when it did).
 * Targets with no report in the result files (not started, or stopped with the Map Run) are
 * the worker's to settle: `skipped`, or read back from the host's journal by operation id.
 */
export interface BatchRunState extends BatchExecutionInput {
  plan: BatchPlan;
  canaryRun?: { ResultWriterDetails?: { Bucket: string; Key: string } };
  fleetRun?: { ResultWriterDetails?: { Bucket: string; Key: string } };
  stopReason?: BatchStopReason;
  error?: { Error: string; Cause?: string };
}

/**
 * The worker's answer in `aggregate` mode, after it POSTed the callback: the aggregated result
 * without `targets` (a state is limited to 256 KB), which it wrote whole to `plan.runs.resultKey`.
 */
export interface AggregateAnswer {
  operationId: string;
  status: 'succeeded' | 'partial' | 'failed';
  summary: { total: number; succeeded: number; failed: number; unreachable: number; skipped: number };
  result: { bucket: string; key: string };
  callback?: { delivered: boolean; attempts: number; lastError?: string };
}
