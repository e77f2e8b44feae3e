/**
 * Exactly-once callbacks in the cloud (SPEC 5 v2): delivery keyed by the operation id through
 * Powertools' idempotency utility on the run table, so that a repeated request, a redelivered
 * event or a re-run step never POSTs again after a 2xx, whichever invocation it runs in.
 *
 * How Powertools' records give `DeliveryLedger`'s semantics:
 * - the first caller writes an `INPROGRESS` record (a conditional put) and sends; a delivered
 *   outcome is saved `COMPLETED` and answered to every later caller without sending;
 * - a send that was not delivered throws inside the wrapped function, so Powertools deletes the
 *   record and a later call may try again; the outcome is then answered as it was;
 * - a caller that finds a delivery in progress elsewhere does not send: it re-reads the record
 *   until it is completed (answering its outcome), deleted (answering that the delivery elsewhere
 *   failed: that caller's outcome is not kept, and one failed delivery is not repeated by every
 *   concurrent caller), or its lease ran out (the sender died: this caller claims it and sends);
 *   after `waitMs` it answers `delivery in progress elsewhere`, not delivered;
 * - the lease of an `INPROGRESS` record is `inProgressLeaseMs` (Powertools takes it from the
 *   Lambda context's remaining time), so a sender killed mid-delivery blocks retries only that long.
 *
 * Known limit: when the POST got its 2xx but the table could not record it, the outcome is still
 * answered delivered, but the record stays `INPROGRESS` until its lease ends; a retry after that
 * would POST again (the receiver's `Idempotency-Key` header is the last line of defence).
 */
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  IdempotencyItemNotFoundError,
  IdempotencyRecordStatus,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import type { CallbackOutcome } from '../fleet/aggregate.ts';
import type { DeliveryLedger } from '../fleet/run-store.ts';
import { DELIVERY_KEY_PREFIX, RUN_TABLE_KEY, RUN_TABLE_TTL_ATTRIBUTE } from './run-table-schema.ts';

export interface DynamoDeliveryLedgerOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long a delivered outcome is remembered (the record's `expiresAt`); default 90 days. */
  rememberDays?: number;
  /**
   * How long a claim on a delivery holds against other callers: a number, or the invocation's
   * `context.getRemainingTimeInMillis`. Default 15 minutes, the longest a Lambda invocation runs.
   */
  inProgressLeaseMs?: number | (() => number);
  /** How long a caller waits for a delivery in progress elsewhere; default 180 s (SPEC 5's 5 attempts). */
  waitMs?: number;
  /** Between two reads of a delivery in progress elsewhere; default 250 ms, doubling up to 2 s. */
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

/** Thrown inside the idempotent function so that Powertools forgets a delivery that failed. */
class NotDeliveredError extends Error {
  constructor(readonly outcome: CallbackOutcome) {
    super(outcome.lastError ?? 'not delivered');
    this.name = 'NotDeliveredError';
  }
}

const DAY_SECONDS = 24 * 60 * 60;
const FAILED_ELSEWHERE: CallbackOutcome = {
  delivered: false,
  attempts: 0,
  lastError: 'delivery by another caller did not succeed',
};
const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A `DeliveryLedger` on the run table (infra/run-table.ts), keyed by the operation id. */
export function createDynamoDeliveryLedger(options: DynamoDeliveryLedgerOptions): DeliveryLedger {
  const lease = options.inProgressLeaseMs ?? 15 * 60_000;
  const waitMs = options.waitMs ?? 180_000;
  const pollMs = options.pollMs ?? 250;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName: options.tableName,
    awsSdkV3Client: options.client,
    keyAttr: RUN_TABLE_KEY,
    expiryAttr: RUN_TABLE_TTL_ATTRIBUTE,
  });
  // Powertools reads only `getRemainingTimeInMillis` of the context, to date the lease.
  const leaseContext = {
    getRemainingTimeInMillis: () => (typeof lease === 'number' ? lease : lease()),
  } as Pick<Context, 'getRemainingTimeInMillis'> as Context;
  const config = new IdempotencyConfig({
    expiresAfterSeconds: Math.round((options.rememberDays ?? 90) * DAY_SECONDS),
    lambdaContext: leaseContext,
  });
  if (!config.isEnabled()) {
    throw new Error('POWERTOOLS_IDEMPOTENCY_DISABLED is set: callbacks could be delivered twice');
  }
  persistenceStore.configure({ config, keyPrefix: DELIVERY_KEY_PREFIX });
  const deliver = makeIdempotent(
    async (_key: string, send: () => Promise<CallbackOutcome>): Promise<CallbackOutcome> => {
      const outcome = await send();
      if (!outcome.delivered) throw new NotDeliveredError(outcome);
      // Powertools stores what is returned: plain JSON, without the `undefined`s DynamoDB refuses.
      return JSON.parse(JSON.stringify(outcome)) as CallbackOutcome;
    },
    { persistenceStore, config, keyPrefix: DELIVERY_KEY_PREFIX },
  );

  /** Reads the record of a delivery held elsewhere until it settles, its lease ends, or `deadline`. */
  const awaitElsewhere = async (key: string, deadline: number): Promise<CallbackOutcome | 'claim'> => {
    let pause = pollMs;
    for (;;) {
      let record: Awaited<ReturnType<typeof persistenceStore.getRecord>>;
      try {
        record = await persistenceStore.getRecord(key);
      } catch (error) {
        if (!(error instanceof IdempotencyItemNotFoundError)) throw error;
        return { ...FAILED_ELSEWHERE };
      }
      const status = record.getStatus();
      if (status === IdempotencyRecordStatus.COMPLETED) return outcomeOf(record.getResponse());
      if (status === IdempotencyRecordStatus.EXPIRED) return 'claim';
      if ((record.inProgressExpiryTimestamp ?? Number.POSITIVE_INFINITY) < now()) return 'claim';
      if (now() >= deadline) {
        return { delivered: false, attempts: 0, lastError: 'delivery in progress elsewhere' };
      }
      await sleep(Math.min(pause, Math.max(0, deadline - now())));
      pause = Math.min(pause * 2, 2_000);
    }
  };

  return {
    async deliverOnce(key, send) {
      const deadline = now() + waitMs;
      for (;;) {
        let sent: CallbackOutcome | undefined;
        try {
          const answer = await deliver(key, async () => {
            sent = await send();
            return sent;
          });
          return sent ?? outcomeOf(answer);
        } catch (error) {
          if (error instanceof NotDeliveredError) return error.outcome;
          // The send ran, but its record could not be saved or deleted: its outcome stands.
          if (sent !== undefined) return sent;
          // Our claim met a record that was deleted before Powertools could read it: a delivery
          // elsewhere ended undelivered (DynamoDB answers the record with the failed claim; a peer
          // without ReturnValuesOnConditionCheckFailure leaves this window).
          if (error instanceof IdempotencyItemNotFoundError) return { ...FAILED_ELSEWHERE };
          if (!(error instanceof IdempotencyAlreadyInProgressError)) throw error;
        }
        const settled = await awaitElsewhere(key, deadline);
        if (settled !== 'claim') return settled;
      }
    },
  };
}

/** A stored outcome as `CallbackOutcome` (Powertools answers it as untyped JSON). */
function outcomeOf(value: unknown): CallbackOutcome {
  const stored = (value ?? {}) as Record<string, unknown>;
  if (typeof stored['delivered'] !== 'boolean' || typeof stored['attempts'] !== 'number') {
    throw new Error(`unexpected delivery record ${JSON.stringify(value)}`);
  }
  return { ...stored } as unknown as CallbackOutcome;
}
