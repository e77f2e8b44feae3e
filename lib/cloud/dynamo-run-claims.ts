/**
 * Operation-id claims on the run table (lib/cloud/run-claims.ts): one item per id under
 * `claim#<operationId>`, written with a conditional put, so that of two racing requests under one
 * id, in whatever containers, one takes it and the other finds what it names. A claim carries a
 * token of its own: a give-back deletes the claim only while it is still the one its call made.
 */
import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import { type NamedRun, namedRunOf } from '../fleet/named-run.ts';
import { assertSameRequest } from '../operations/same-request.ts';
import type { RunClaims } from './run-claims.ts';
import { CLAIM_KEY_PREFIX, RUN_TABLE_KEY, RUN_TABLE_TTL_ATTRIBUTE } from './run-table-schema.ts';

export interface DynamoRunClaimsOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long a claim is kept (its `expiresAt`); default 90 days, as the run records. */
  ttlDays?: number;
  /** Milliseconds since the epoch, for `expiresAt`. */
  now?: () => number;
}

const DAY_SECONDS = 24 * 60 * 60;

/** A stored claim, checked as it comes back from the table. `run` is what the id names, as JSON. */
const storedClaimSchema = z.object({ run: z.string(), token: z.string() });
const claimedRunSchema = z.object({
  kind: z.enum(['server', 'fleet']),
  server: z.string().optional(),
  command: z.string(),
  args: z.record(z.string(), z.unknown()),
});

function runOf(item: Parameters<typeof unmarshall>[0]): NamedRun {
  const { run } = storedClaimSchema.parse(unmarshall(item));
  const parsed = claimedRunSchema.parse(JSON.parse(run));
  const { server, ...rest } = parsed;
  return server === undefined ? rest : { ...rest, server };
}

/** `RunClaims` on the run table (infra/run-table.ts). */
export function createDynamoRunClaims(options: DynamoRunClaimsOptions): RunClaims {
  const { client, tableName } = options;
  const ttlSeconds = Math.round((options.ttlDays ?? 90) * DAY_SECONDS);
  const now = options.now ?? Date.now;
  const key = (operationId: string) => marshall({ [RUN_TABLE_KEY]: `${CLAIM_KEY_PREFIX}${operationId}` });
  const names = { '#id': RUN_TABLE_KEY };

  return {
    async claim(job) {
      const run = namedRunOf(job);
      const token = randomUUID();
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: {
              ...marshall({ run: JSON.stringify(run), token, claimedAt: new Date(now()).toISOString() }),
              ...key(job.operationId),
              [RUN_TABLE_TTL_ATTRIBUTE]: { N: String(Math.floor(now() / 1000) + ttlSeconds) },
            },
            ConditionExpression: 'attribute_not_exists(#id)',
            ExpressionAttributeNames: names,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // DynamoDB hands back the kept item; a peer that does not is asked with a consistent read.
        const item =
          error.Item ??
          (
            await client.send(
              new GetItemCommand({ TableName: tableName, Key: key(job.operationId), ConsistentRead: true }),
            )
          ).Item;
        // Given back between the put and the read: the id is free again, so it is tried once more.
        if (item === undefined) return this.claim(job);
        assertSameRequest(job.operationId, run, runOf(item));
        return async () => {};
      }
      return async () => {
        try {
          await client.send(
            new DeleteItemCommand({
              TableName: tableName,
              Key: key(job.operationId),
              ConditionExpression: '#token = :token',
              ExpressionAttributeNames: { '#token': 'token' },
              ExpressionAttributeValues: marshall({ ':token': token }),
            }),
          );
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      };
    },
  };
}
