/**
 * What the worker is asked to do: one long operation on one server, or a batch upgrade over a
 * selection, always under one operation id; and, when a run outlives one function invocation,
 * the continuation that the next invocation picks up. Both travel as JSON (an asynchronous
 * Lambda Invoke), so both are zod schemas, checked again by whoever receives them.
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../config/names.ts';
import { ERROR_CODES } from '../errors.ts';

const operationId = z.string().regex(OPERATION_ID_PATTERN);
const rate = z.union([z.number().int().min(0), z.string().min(1).max(8)]);

export const longRequestSchema = z.discriminatedUnion('command', [
  z.strictObject({ command: z.literal('server.provision'), role: z.string().optional() }),
  z.strictObject({ command: z.literal('product.upgrade'), product: z.string(), version: z.string() }),
]);

export type LongRequest = z.infer<typeof longRequestSchema>;

/** `POST /servers/{server}/provision` and `…/upgrade`: follow the operation the API started, then call back. */
export const serverJobSchema = z.strictObject({
  kind: z.literal('server'),
  operationId,
  server: z.string().min(1),
  request: longRequestSchema,
  callbackUrl: z.string().optional(),
  waitLockSeconds: z.number().int().min(0).optional(),
});

/** The fields of a batch upgrade over a selection (`/fleet/upgrade`'s body, as already validated at the edge). */
export const fleetRunShape = {
  select: z.string().min(1),
  product: z.string(),
  version: z.string(),
  maxConcurrency: rate.optional(),
  maxErrors: rate.optional(),
  canary: rate.optional(),
  healthGate: z.boolean().optional(),
  callbackUrl: z.string().optional(),
};

/** `POST /fleet/upgrade` and the batch-upgrade function: SPEC 4's run over a selection. */
export const fleetJobSchema = z.strictObject({
  kind: z.literal('fleet'),
  operationId,
  ...fleetRunShape,
  waitLockSeconds: z.number().int().min(0).optional(),
  /** How long one target (operation and health gate) may take, across invocations. */
  targetTimeoutMs: z.number().int().positive().optional(),
});

export const workerJobSchema = z.discriminatedUnion('kind', [serverJobSchema, fleetJobSchema]);

export type ServerJob = z.infer<typeof serverJobSchema>;
export type FleetJob = z.infer<typeof fleetJobSchema>;
export type WorkerJob = z.infer<typeof workerJobSchema>;

const errorBodySchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});

/** A finished target as SPEC 4's result shows it. */
export const targetReportSchema = z.union([
  z.strictObject({ server: z.string(), status: z.literal('succeeded'), result: z.unknown() }),
  z.strictObject({
    server: z.string(),
    status: z.enum(['failed', 'unreachable']),
    error: errorBodySchema,
  }),
  z.strictObject({ server: z.string(), status: z.literal('skipped') }),
]);

/**
 * Where a run stands between two invocations. `targets` is the selection as resolved once, at
 * the start (a changed inventory must not change a running rollout); `done` holds the targets
 * whose outcome is final; every other target is still to run or to follow — following an
 * operation id that already has a journal on its host never runs it twice.
 */
export const continuationSchema = z.strictObject({
  /** The number of the invocation that works on this state (the first one is 1). */
  invocation: z.number().int().min(1),
  startedAt: z.string(),
  targets: z.array(z.string()),
  rate: z.strictObject({
    maxConcurrency: z.number().int().min(1),
    maxErrors: z.number().int().min(0),
    canary: z.number().int().min(0),
  }),
  /** Canaries still to succeed before the fan-out. */
  canariesLeft: z.number().int().min(0),
  /** The run stopped starting targets (max errors, failed canary): what is not done is skipped. */
  stopped: z.boolean(),
  done: z.array(targetReportSchema),
  /** `[server] callback_url` of the first host read, when the request named none. */
  configCallbackUrl: z.string().nullable(),
  /** The aggregated result, when only its delivery is left. */
  result: z.unknown().optional(),
});

export type Continuation = z.infer<typeof continuationSchema>;

/** The worker function's event: a job, and its continuation when an earlier invocation handed over. */
export const workerEventSchema = z.strictObject({
  job: workerJobSchema,
  continuation: continuationSchema.optional(),
});

export type WorkerEvent = z.infer<typeof workerEventSchema>;
