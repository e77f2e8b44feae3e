/**
 * The concurrency pool (lib/fleet/concurrency-pool.ts) on the run table: one item a pool under
 * `pool#<name>`, holding every holder's units and lease in one map and a version number. A change
 * is a read, the grant computed, and a put conditional on the version read, so that two runs
 * reserving at once never both take the same free units: the one that loses the race reads again.
 *
 * One item is DynamoDB's own way to make a semaphore (a conditional write on one item is atomic);
 * its writes are few — a run reserves before its canaries and before its Map, and releases once —
 * so the one item is no hot spot. Its map holds one entry a live run (tens of bytes each), far
 * below the 400 KB item limit for any reserved concurrency Lambda allows.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import {
  afterGrant,
  afterRelease,
  type ConcurrencyPool,
  grantUnits,
  liveHoldings,
  type PoolHolding,
} from '../fleet/concurrency-pool.ts';
import { POOL_KEY_PREFIX, RUN_TABLE_KEY } from './run-table-schema.ts';

export interface DynamoConcurrencyPoolOptions {
  client: DynamoDBClient;
  tableName: string;
  /** The pool's name: `worker` (fleet runs' targets) or `heartbeat` (its shards). */
  name: string;
  /** How often a change lost to another writer is tried again before `reserve` answers 0; default 8. */
  attempts?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The stored pool, checked as it comes back from the table. */
const storedPoolSchema = z.object({
  version: z.number().int().nonnegative(),
  holdings: z.record(
    z.string(),
    z.object({
      units: z.number().int().positive(),
      until: z.number().int(),
      execution: z.string().optional(),
    }),
  ),
});

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A `ConcurrencyPool` on the run table (infra/run-table.ts). */
export function createDynamoConcurrencyPool(options: DynamoConcurrencyPoolOptions): ConcurrencyPool {
  const { client, tableName } = options;
  const attempts = options.attempts ?? 8;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const key = marshall({ [RUN_TABLE_KEY]: `${POOL_KEY_PREFIX}${options.name}` });

  const read = async (): Promise<{ version: number; holdings: Record<string, PoolHolding> }> => {
    const answer = await client.send(
      new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }),
    );
    if (answer.Item === undefined) return { version: 0, holdings: {} };
    return storedPoolSchema.parse(unmarshall(answer.Item));
  };

  /** Writes the holdings unless another writer changed the pool since `version` was read. */
  const write = async (version: number, holdings: Record<string, PoolHolding>): Promise<boolean> => {
    try {
      await client.send(
        new PutItemCommand({
          TableName: tableName,
          Item: { ...marshall({ version: version + 1, holdings }), ...key },
          ConditionExpression: version === 0 ? 'attribute_not_exists(#id)' : '#version = :version',
          ExpressionAttributeNames: version === 0 ? { '#id': RUN_TABLE_KEY } : { '#version': 'version' },
          ...(version === 0 ? {} : { ExpressionAttributeValues: marshall({ ':version': version }) }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  };

  /** Between two tries of a change lost to another writer: a few milliseconds, with jitter. */
  const backOff = (attempt: number) => sleep(Math.random() * 20 * 2 ** Math.min(attempt, 5));

  return {
    async holdings() {
      return liveHoldings((await read()).holdings, now());
    },
    async reserve(holder, wanted, capacity, until, execution) {
      for (let attempt = 1; attempt <= attempts; attempt += 1) {
        const at = now();
        const { version, holdings } = await read();
        const units = grantUnits(holdings, holder, wanted, capacity, at);
        const next = afterGrant(holdings, holder, { units, until, execution }, at);
        // Nothing to grant and no lease ended: nothing to write.
        if (units === 0 && Object.keys(next).length === Object.keys(holdings).length) return 0;
        if (await write(version, next)) return units;
        await backOff(attempt);
      }
      // Lost every race: as if none were free now; the run asks again after its wait.
      return 0;
    },
    async release(holder, tail) {
      for (let attempt = 1; ; attempt += 1) {
        const { version, holdings } = await read();
        const next = afterRelease(holdings, holder, tail, now());
        if (next === undefined) return;
        if (await write(version, next)) return;
        if (attempt >= attempts) {
          throw new Error(`the ${options.name} pool changed under every try to release ${holder}`);
        }
        await backOff(attempt);
      }
    },
  };
}
