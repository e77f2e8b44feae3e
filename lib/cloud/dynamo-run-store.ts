/**
 * The fleet run store on DynamoDB (SPEC 4, 7.1 v2): one item per run under `run#<operationId>`,
 * so every step of a state machine, in whatever invocation, sees one record and one failure
 * count. Creation is a conditional put and the failure count an atomic `ADD`, so racing steps
 * never lose a failure nor create a run twice.
 *
 * A run's whole `targets` are not kept here: 10,000 reports exceed DynamoDB's 400 KB item limit.
 * While it runs, `recordTarget` counts each outcome in `summary` (an atomic `ADD` on the map the
 * plan set) and keeps the first `MAX_KEPT_TARGETS` that did not succeed; the whole result lives
 * in S3 (`resultLocation`) once it ends.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import type { TargetReport } from '../fleet/aggregate.ts';
import { MAX_KEPT_TARGETS, type RunPatch, type RunRecord, type RunStore } from '../fleet/run-store.ts';
import { RUN_KEY_PREFIX, RUN_TABLE_KEY, RUN_TABLE_TTL_ATTRIBUTE } from './run-table-schema.ts';

export interface DynamoRunStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** How long a record is kept after its creation (its `expiresAt`); default 90 days, as the runs bucket. */
  ttlDays?: number;
  /** Milliseconds since the epoch, for `expiresAt`. */
  now?: () => number;
}

const DAY_SECONDS = 24 * 60 * 60;

const summarySchema = z.object({
  total: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  unreachable: z.number(),
  skipped: z.number(),
});

/** A stored run item, checked as it comes back from the table (the edge this store reads from). */
const storedRunSchema = z.object({
  operationId: z.string(),
  command: z.string(),
  args: z.record(z.string(), z.unknown()),
  status: z.enum(['running', 'succeeded', 'partial', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  summary: summarySchema.optional(),
  failures: z.number().int().nonnegative(),
  targets: z.array(z.looseObject({ server: z.string(), status: z.string() })).optional(),
  execution: z.string().optional(),
  resultLocation: z.string().optional(),
  callback: z
    .object({ delivered: z.boolean(), attempts: z.number(), lastError: z.string().optional() })
    .optional(),
  waiting: z
    .object({ for: z.literal('concurrency'), since: z.string(), holders: z.array(z.string()) })
    .nullable()
    .optional(),
});

/** The fields a patch may set here: everything of `RunPatch` but `targets` (see the file's note). */
const PATCHABLE = [
  'command',
  'args',
  'status',
  'startedAt',
  'finishedAt',
  'summary',
  'execution',
  'resultLocation',
  'callback',
  'waiting',
] as const satisfies readonly (keyof RunPatch)[];

/** A `RunStore` on one DynamoDB table shared with the delivery ledger (infra/run-table.ts). */
export function createDynamoRunStore(options: DynamoRunStoreOptions): RunStore {
  const { client, tableName } = options;
  const ttlSeconds = Math.round((options.ttlDays ?? 90) * DAY_SECONDS);
  const now = options.now ?? Date.now;
  const key = (operationId: string) => marshall({ [RUN_TABLE_KEY]: `${RUN_KEY_PREFIX}${operationId}` });
  const names = { '#id': RUN_TABLE_KEY };

  const read = async (operationId: string): Promise<RunRecord | undefined> => {
    const answer = await client.send(
      new GetItemCommand({ TableName: tableName, Key: key(operationId), ConsistentRead: true }),
    );
    return answer.Item === undefined ? undefined : toRunRecord(answer.Item);
  };

  return {
    async create(record) {
      const { targets: _targets, ...kept } = record;
      const created: RunRecord = { ...kept, failures: 0 };
      const item = {
        ...marshall(created, { removeUndefinedValues: true }),
        ...key(record.operationId),
        [RUN_TABLE_TTL_ATTRIBUTE]: { N: String(Math.floor(now() / 1000) + ttlSeconds) },
      };
      try {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#id)',
            ExpressionAttributeNames: names,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { created: true, record: created };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // DynamoDB hands back the kept item; a peer that does not is asked with a consistent read.
        const existing = error.Item === undefined ? await read(record.operationId) : toRunRecord(error.Item);
        if (existing === undefined) throw new Error(`run ${record.operationId} vanished while created`);
        return { created: false, record: existing };
      }
    },
    get: read,
    async addFailure(operationId) {
      try {
        const answer = await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(operationId),
            UpdateExpression: 'ADD failures :one',
            ConditionExpression: 'attribute_exists(#id)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':one': { N: '1' } },
            ReturnValues: 'UPDATED_NEW',
          }),
        );
        return Number(answer.Attributes?.['failures']?.N);
      } catch (error) {
        throw missingRun(error, operationId);
      }
    },
    async update(operationId, patch) {
      const sets: string[] = [];
      const fieldNames: Record<string, string> = { ...names };
      const values: Record<string, unknown> = {};
      PATCHABLE.forEach((field, index) => {
        const value = patch[field];
        if (value === undefined) return;
        sets.push(`#f${index} = :f${index}`);
        fieldNames[`#f${index}`] = field;
        values[`:f${index}`] = value;
      });
      if (sets.length === 0) {
        if ((await read(operationId)) === undefined) throw new Error(`no run ${operationId}`);
        return;
      }
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(operationId),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: 'attribute_exists(#id)',
            ExpressionAttributeNames: fieldNames,
            ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }),
          }),
        );
      } catch (error) {
        throw missingRun(error, operationId);
      }
    },
    async recordTarget(operationId, report) {
      // Two conditional updates, each allowed to find nothing to do: a record without a summary
      // (not planned yet) counts nothing; a full list keeps the count but not the report.
      const ignoreUnmet = (error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      };
      await client
        .send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(operationId),
            UpdateExpression: 'ADD #summary.#status :one',
            ConditionExpression: 'attribute_exists(#id) AND attribute_exists(#summary)',
            ExpressionAttributeNames: { ...names, '#summary': 'summary', '#status': report.status },
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        )
        .catch(ignoreUnmet);
      if (report.status === 'succeeded') return;
      await client
        .send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(operationId),
            UpdateExpression: 'SET #targets = list_append(if_not_exists(#targets, :none), :report)',
            ConditionExpression:
              'attribute_exists(#id) AND (attribute_not_exists(#targets) OR size(#targets) < :max)',
            ExpressionAttributeNames: { ...names, '#targets': 'targets' },
            ExpressionAttributeValues: marshall({
              ':none': [],
              ':report': [report],
              ':max': MAX_KEPT_TARGETS,
            }),
          }),
        )
        .catch(ignoreUnmet);
    },
  };
}

/** The record of a stored item: the table's own attributes (`id`, `expiresAt`) left out. */
function toRunRecord(item: Parameters<typeof unmarshall>[0]): RunRecord {
  const parsed = storedRunSchema.parse(unmarshall(item));
  const record: RunRecord = {
    operationId: parsed.operationId,
    command: parsed.command,
    args: parsed.args,
    status: parsed.status,
    startedAt: parsed.startedAt,
    failures: parsed.failures,
  };
  if (parsed.finishedAt !== undefined) record.finishedAt = parsed.finishedAt;
  // Written by `recordTarget` from reports this code made: kept as they were written.
  if (parsed.targets !== undefined) record.targets = parsed.targets as unknown as TargetReport[];
  if (parsed.summary !== undefined) record.summary = parsed.summary;
  if (parsed.execution !== undefined) record.execution = parsed.execution;
  if (parsed.resultLocation !== undefined) record.resultLocation = parsed.resultLocation;
  if (parsed.waiting !== undefined) record.waiting = parsed.waiting;
  if (parsed.callback !== undefined) {
    const { delivered, attempts, lastError } = parsed.callback;
    record.callback = lastError === undefined ? { delivered, attempts } : { delivered, attempts, lastError };
  }
  return record;
}

/** A failed condition on an update means the run was never created: the memory store's error. */
function missingRun(error: unknown, operationId: string): unknown {
  return error instanceof ConditionalCheckFailedException ? new Error(`no run ${operationId}`) : error;
}
