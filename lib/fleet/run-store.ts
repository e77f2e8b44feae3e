/**
 * The two facts a fleet run shares between the processes that carry it (SPEC 4, 5 v2): its
 * record — status, summary, failure count, where its whole result is — and whether its callback
 * was delivered. One interface, one file per backend: memory here (the CLI, `serve`, tests),
 * DynamoDB in the cloud, where every step of a state machine may run in another invocation.
 */
import type { CallbackOutcome, FleetSummary, TargetReport } from './aggregate.ts';

export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed';

/** A fleet run as `GET /fleet/operations/{operationId}` reports it. */
export interface RunRecord {
  operationId: string;
  command: string;
  args: Record<string, unknown>;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  summary?: FleetSummary;
  /** Targets counted against `maxErrors` so far (SPEC 4). */
  failures: number;
  /** What carries the run: a Step Functions execution ARN, or `local`. */
  execution?: string;
  /** Where the whole aggregated result is kept once it ends (an `s3://` URL in the cloud). */
  resultLocation?: string;
  /**
   * The targets reported so far: every one in memory; in DynamoDB (a 400 KB item) the first
   * `MAX_KEPT_TARGETS` that did not succeed, the rest being counted in `summary` only.
   */
  targets?: TargetReport[];
  callback?: CallbackOutcome;
  /**
   * Set while the run waits for units of its function's concurrency that other runs hold
   * (lib/fleet/steps/reserve.ts): since when, and the runs that held them then; null once granted.
   */
  waiting?: RunWaiting | null;
}

/** What a run waits for before it may start targets. */
export interface RunWaiting {
  for: 'concurrency';
  since: string;
  holders: string[];
}

export type NewRunRecord = Omit<RunRecord, 'failures'>;
export type RunPatch = Partial<Omit<RunRecord, 'operationId' | 'failures'>>;

export interface RunStore {
  /** Creates the record unless one exists under that id (a conditional put); answers the one that is kept. */
  create(record: NewRunRecord): Promise<{ created: boolean; record: RunRecord }>;
  get(operationId: string): Promise<RunRecord | undefined>;
  /** Adds one failure atomically and answers the count after it. */
  addFailure(operationId: string): Promise<number>;
  update(operationId: string, patch: RunPatch): Promise<void>;
  /**
   * One target's outcome while the run runs (SPEC 7.1 v2: "its status, summary and targets so
   * far"): counted in `summary` when the record has one (the plan sets it with the total), and
   * kept in `targets` as the backend allows. Counts are at least once: a step delivered twice may
   * count twice; the aggregated result, written at the end, is exact. Progress of a run that has
   * no record is not kept (and is no error).
   */
  recordTarget(operationId: string, report: TargetReport): Promise<void>;
}

/** How many targets that did not succeed a bounded backend keeps in the record while a run runs. */
export const MAX_KEPT_TARGETS = 100;

/** A run's summary before any target has reported. */
export function emptySummary(total: number): FleetSummary {
  return { total, succeeded: 0, failed: 0, unreachable: 0, skipped: 0 };
}

export interface DeliveryLedger {
  /**
   * Runs `send` unless a send under this key was already delivered (a 2xx): then answers that
   * outcome without sending. Concurrent calls under one key send once. A send that was not
   * delivered is not remembered, so a later call may try again.
   */
  deliverOnce(key: string, send: () => Promise<CallbackOutcome>): Promise<CallbackOutcome>;
}

/** A store for one process that keeps the newest `limit` runs. */
export function createMemoryRunStore(limit = 1000): RunStore {
  const records = new Map<string, RunRecord>();
  const remember = (record: RunRecord) => {
    records.delete(record.operationId);
    records.set(record.operationId, record);
    while (records.size > limit) {
      const oldest = records.keys().next().value;
      if (oldest === undefined) break;
      records.delete(oldest);
    }
  };
  const existing = (operationId: string): RunRecord => {
    const record = records.get(operationId);
    if (!record) throw new Error(`no run ${operationId}`);
    return record;
  };
  return {
    async create(record) {
      const kept = records.get(record.operationId);
      if (kept) return { created: false, record: structuredClone(kept) };
      const created: RunRecord = { ...structuredClone(record), failures: 0 };
      remember(created);
      return { created: true, record: structuredClone(created) };
    },
    async get(operationId) {
      const record = records.get(operationId);
      return record === undefined ? undefined : structuredClone(record);
    },
    async addFailure(operationId) {
      const record = existing(operationId);
      record.failures += 1;
      return record.failures;
    },
    async update(operationId, patch) {
      const record = existing(operationId);
      Object.assign(record, structuredClone(patch));
    },
    async recordTarget(operationId, report) {
      const record = records.get(operationId);
      if (!record) return;
      if (record.summary) record.summary[report.status] += 1;
      record.targets = [...(record.targets ?? []), structuredClone(report)];
    },
  };
}

/** A ledger for one process. */
export function createMemoryDeliveryLedger(): DeliveryLedger {
  const delivered = new Map<string, CallbackOutcome>();
  const inFlight = new Map<string, Promise<CallbackOutcome>>();
  return {
    deliverOnce(key, send) {
      const done = delivered.get(key);
      if (done) return Promise.resolve({ ...done });
      const running = inFlight.get(key);
      if (running) return running;
      const attempt = send()
        .then((outcome) => {
          if (outcome.delivered) delivered.set(key, { ...outcome });
          return outcome;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, attempt);
      return attempt;
    },
  };
}
