/**
 * What the steps of a fleet run share, injected: the fleet (selection and hosts), how a target
 * is worked (`workFor`, bound to the fleet by default), the run's record and delivery ledger
 * (memory locally, DynamoDB in the cloud), a blob store (the runs bucket in S3: item lists,
 * per-target reports, the whole result) and the clock. Each step is a plain async function over
 * these, small, and gives the same answer when it runs again with the same input.
 */
import type { CommandRequest } from '../../operations/types.ts';
import type { CallbackOutcome, Deliver } from '../aggregate.ts';
import type { ConcurrencyPool } from '../concurrency-pool.ts';
import type { Fleet } from '../fleet.ts';
import type { DeliveryLedger, RunStore } from '../run-store.ts';
import { commandWork, type TargetWork, type WorkOptions } from '../work.ts';

/** Where a run's objects live (S3 in the cloud; the same interface in memory for local runs). */
export interface BlobStore {
  /** The bucket the state machine's ItemReader and ResultWriter are pointed at. */
  readonly bucket: string;
  /** The object's text, or undefined when there is none. */
  get(key: string): Promise<string | undefined>;
  put(key: string, body: string): Promise<void>;
  /** A URL that reads the object without credentials for a while (an S3 pre-signed GET). */
  urlOf?(key: string): Promise<string>;
}

export interface StepDeps {
  fleet: Fleet;
  store: RunStore;
  ledger: DeliveryLedger;
  blobs: BlobStore;
  /** POSTs a result (SPEC 5, retries included); absent: callbacks are recorded as not delivered. */
  deliver?: Deliver | undefined;
  /** How a target is worked; default `commandWork` over `fleet`. */
  workFor?: (request: CommandRequest, operationId: string, options: WorkOptions) => TargetWork;
  /**
   * The most Map children that may run at once: below the reserved concurrency of the function
   * they invoke, so a fleet run is never throttled into failures (SPEC 7.3). Default 100.
   */
  concurrencyCap?: number | undefined;
  /**
   * The concurrency all fleet runs share (`concurrencyCap` units, SPEC 7.3 v2: reserve.ts); absent,
   * each run is granted what it asks for (one process).
   */
  pool?: ConcurrencyPool | undefined;
  /**
   * When the Step Functions execution of this ARN ended (DescribeExecution's `stopDate`, in
   * milliseconds since the epoch; 0 when there is no such execution any more), undefined while it
   * runs; absent, a holder's end is known from its event or its lease only.
   */
  executionEnded?: ((executionArn: string) => Promise<number | undefined>) | undefined;
  /**
   * Runs this process has seen stopped (their failure count past `maxErrors`): a count never
   * goes down, so a warm invocation answers `skipped` without reading it again.
   */
  stoppedRuns?: Set<string>;
  now?: () => Date;
}

/** The run's objects, all under one prefix of the runs bucket. */
export function runKeys(operationId: string) {
  const base = `runs/${operationId}`;
  return {
    targets: `${base}/targets.json`,
    fleet: `${base}/fleet.json`,
    canary: (index: number) => `${base}/canary/${index}.json`,
    report: (index: number) => `${base}/reports/${index}.json`,
    results: `${base}/results`,
    result: `${base}/result.json`,
  };
}

export function workOf(deps: StepDeps, request: CommandRequest, operationId: string, options: WorkOptions) {
  return (deps.workFor ?? ((r, id, o) => commandWork(deps.fleet, r, id, o)))(request, operationId, options);
}

export async function readJson<T>(blobs: BlobStore, key: string): Promise<T | undefined> {
  const text = await blobs.get(key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/**
 * Counts a target's failure once, however often its step runs: the same exactly-once record
 * that guards deliveries (a conditional write keyed by run and target) guards the count. It
 * rejects unless the count is known made, here or by an earlier run of the step, so that the
 * step fails and Step Functions runs it again rather than going on with the failure uncounted:
 * when the update threw (its claim is given up, or, if that failed too, held until its lease
 * ends), or when another invocation holds the claim and did not finish within the ledger's wait.
 * One window is left: an invocation that dies between the count's update and the record's
 * completion leaves a claim that expires, and a retry then counts again — one failure too many,
 * which can only stop a run earlier, never let it go on past `maxErrors`.
 */
export async function countFailureOnce(deps: StepDeps, operationId: string, index: number): Promise<void> {
  const outcome = await deps.ledger.deliverOnce(
    `${operationId}#failure#${index}`,
    async (): Promise<CallbackOutcome> => {
      await deps.store.addFailure(operationId);
      return { delivered: true, attempts: 1 };
    },
  );
  if (!outcome.delivered) {
    throw new Error(
      `target ${index} of ${operationId}: its failure is not counted yet (${outcome.lastError ?? 'no answer'})`,
    );
  }
}

/** A memory blob store (local runs and tests of the steps). */
export function createMemoryBlobStore(bucket = 'local'): BlobStore & { objects: Map<string, string> } {
  const objects = new Map<string, string>();
  return {
    bucket,
    objects,
    get: async (key) => objects.get(key),
    put: async (key, body) => {
      objects.set(key, body);
    },
  };
}
