/**
 * The batch state machine's last step: every target's report, from the Distributed Maps' result
 * files in the runs bucket, aggregated as SPEC 4 says, stored whole beside them, and POSTed to
 * the callback once. Targets with no report (the Map stopped before them, or stopped with them
 * running) are settled from their host: the journal under the batch's operation id says what
 * happened; no journal means the target never started (`skipped`).
 */
import pLimit from 'p-limit';
import * as z from 'zod';
import { BootstrapError, errorBody } from '../errors.ts';
import {
  aggregate,
  type CallbackOutcome,
  type TargetReport,
  UNREACHABLE_CODES,
  withCallbackOutcome,
} from '../fleet/index.ts';
import { type Journal, runCommand } from '../operations/index.ts';
import type { Fleet } from '../orchestrate/fleet.ts';
import type { Deliver } from '../orchestrate/run.ts';
import { journalOutcome } from '../orchestrate/run.ts';
import { batchItemSchema, batchRequestSchema } from './batch-target.ts';
import { targetReportSchema } from './job.ts';

const objectRef = z.looseObject({ Bucket: z.string(), Key: z.string() });
const mapRun = z.looseObject({ ResultWriterDetails: objectRef.optional() }).optional();

export const batchRunSchema = z.looseObject({
  operationId: z.string(),
  request: batchRequestSchema,
  startedAt: z.string(),
  plan: z.looseObject({
    runs: z.looseObject({
      bucket: z.string(),
      canaryKey: z.string(),
      fleetKey: z.string(),
      canaryResultsPrefix: z.string(),
      fleetResultsPrefix: z.string(),
      resultKey: z.string(),
    }),
  }),
  canaryRun: mapRun,
  fleetRun: mapRun,
  stopReason: z.string().optional(),
});

export type BatchRun = z.infer<typeof batchRunSchema>;

/** The runs bucket, as the worker uses it. */
export interface BatchStorage {
  get(bucket: string, key: string): Promise<string>;
  put(bucket: string, key: string, body: string): Promise<void>;
  /** Every key under `prefix`. */
  list(bucket: string, prefix: string): Promise<string[]>;
}

export interface BatchAggregateDeps {
  fleet: Fleet;
  storage: BatchStorage;
  deliver?: Deliver;
  /** How many hosts are asked at once when settling targets without a report; default 10. */
  settleConcurrency?: number;
  now?: () => Date;
}

export interface BatchAggregateAnswer {
  operationId: string;
  status: 'succeeded' | 'partial' | 'failed';
  summary: { total: number; succeeded: number; failed: number; unreachable: number; skipped: number };
  result: { bucket: string; key: string };
  callback?: CallbackOutcome;
}

const manifestSchema = z.looseObject({
  ResultFiles: z.record(z.string(), z.array(z.looseObject({ Key: z.string() }))),
});
const childSchema = z.looseObject({
  Status: z.string().optional(),
  Input: z.string().optional(),
  Output: z.string().nullish(),
  Error: z.string().nullish(),
  Cause: z.string().nullish(),
});
const answerSchema = z.intersection(targetReportSchema, z.looseObject({ index: z.number().int() }));

function parseJson(text: string | null | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** One child execution's report, by its item's index; undefined when it says nothing final. */
function reportOf(child: z.infer<typeof childSchema>): { index: number; report: TargetReport } | undefined {
  const answer = answerSchema.safeParse(parseJson(child.Status === 'SUCCEEDED' ? child.Output : child.Cause));
  if (answer.success) {
    const { index, ...report } = answer.data as TargetReport & { index: number };
    return { index, report };
  }
  const item = batchItemSchema.safeParse((parseJson(child.Input) as { item?: unknown } | undefined)?.item);
  if (!item.success || child.Status !== 'FAILED') return undefined;
  const error = new BootstrapError(
    'INTERNAL',
    `${item.data.server}: ${child.Error ?? 'failed'}: ${child.Cause ?? ''}`,
    {
      server: item.data.server,
    },
  );
  return {
    index: item.data.index,
    report: { server: item.data.server, status: 'failed', error: error.toJSON() },
  };
}

async function manifestKeys(storage: BatchStorage, bucket: string, run: BatchRun, phase: 'canary' | 'fleet') {
  const known = (phase === 'canary' ? run.canaryRun : run.fleetRun)?.ResultWriterDetails;
  if (known) return [known];
  // A stage that stopped early went to a Catch, which keeps no ResultWriterDetails: look for them.
  const prefix = phase === 'canary' ? run.plan.runs.canaryResultsPrefix : run.plan.runs.fleetResultsPrefix;
  const keys = await storage.list(bucket, `${prefix}/`);
  return keys.filter((key) => key.endsWith('/manifest.json')).map((Key) => ({ Bucket: bucket, Key }));
}

async function settle(fleet: Fleet, operationId: string, server: string): Promise<TargetReport> {
  try {
    const journal = (await runCommand(fleet.target(server), {
      command: 'operation.get',
      operationId,
    })) as Journal;
    if (journal.status === 'running') {
      const error = new BootstrapError('TRANSPORT_TIMEOUT', `${server}: still running when the batch ended`, {
        server,
        operationId,
        journal,
      });
      return { server, status: 'failed', error: error.toJSON() };
    }
    return { server, status: 'succeeded', result: journalOutcome(journal) };
  } catch (error) {
    const body = errorBody(error);
    if (body.code === 'INVALID_REQUEST' && body.details['operationId'] === operationId) {
      return { server, status: 'skipped' };
    }
    return { server, status: UNREACHABLE_CODES.has(body.code) ? 'unreachable' : 'failed', error: body };
  }
}

/** `[server] callback_url` of the first target, as an in-process run would use it. */
async function configCallbackUrl(fleet: Fleet, server: string | undefined): Promise<string | undefined> {
  if (server === undefined) return undefined;
  let url: string | undefined;
  try {
    await runCommand(
      fleet.target(server),
      { command: 'server.mode' },
      {
        onConfig: (config) => {
          url ??= config.server.callbackUrl ?? undefined;
        },
      },
    );
  } catch {
    // An unreadable first host: no callback from its configuration.
  }
  return url;
}

/** Aggregates a batch run, stores the result at `plan.runs.resultKey`, and calls back. */
export async function aggregateBatch(deps: BatchAggregateDeps, run: BatchRun): Promise<BatchAggregateAnswer> {
  const { storage } = deps;
  const runs = run.plan.runs;
  const items: z.infer<typeof batchItemSchema>[] = [];
  for (const key of [runs.canaryKey, runs.fleetKey]) {
    items.push(...z.array(batchItemSchema).parse(JSON.parse(await storage.get(runs.bucket, key))));
  }
  items.sort((a, b) => a.index - b.index);

  const reports = new Map<number, TargetReport>();
  for (const phase of ['canary', 'fleet'] as const) {
    for (const manifest of await manifestKeys(storage, runs.bucket, run, phase)) {
      const files = manifestSchema.parse(JSON.parse(await storage.get(manifest.Bucket, manifest.Key)));
      for (const file of Object.values(files.ResultFiles).flat()) {
        const children = z.array(childSchema).parse(JSON.parse(await storage.get(manifest.Bucket, file.Key)));
        for (const child of children) {
          const found = reportOf(child);
          if (found) reports.set(found.index, found.report);
        }
      }
    }
  }

  const limit = pLimit(deps.settleConcurrency ?? 10);
  const targets = await Promise.all(
    items.map(
      (item) => reports.get(item.index) ?? limit(() => settle(deps.fleet, run.operationId, item.server)),
    ),
  );
  const now = deps.now ?? (() => new Date());
  let result = aggregate({
    operationId: run.operationId,
    command: 'product.upgrade',
    args: { product: run.request.product, version: run.request.version },
    startedAt: new Date(run.startedAt),
    finishedAt: now(),
    targets: targets as TargetReport[],
  });
  const url = run.request.callbackUrl ?? (await configCallbackUrl(deps.fleet, items[0]?.server));
  if (url !== undefined) {
    const outcome: CallbackOutcome = deps.deliver
      ? await deps.deliver(url, result)
      : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' };
    result = withCallbackOutcome(result, outcome);
  }
  await storage.put(runs.bucket, runs.resultKey, JSON.stringify(result));
  return {
    operationId: result.operationId,
    status: result.status,
    summary: result.summary,
    result: { bucket: runs.bucket, key: runs.resultKey },
    ...(result.callback === undefined ? {} : { callback: result.callback }),
  };
}
