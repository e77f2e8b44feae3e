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
  /** The targets reported so far, where the backend keeps them (memory only: they can be 10,000). */
  targets?: TargetReport[];
  callback?: CallbackOutcome;
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
