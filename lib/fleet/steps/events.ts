/**
 * The inputs of the fleet run's steps as a state machine passes them (functions/ parse them with
 * these schemas before calling the steps): the execution's input is `{ operationId, request,
 * startedAt }`; the plan adds `plan`; the Distributed Map adds `fleetRun` (its ResultWriter details).
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../../config/names.ts';
import { fleetRequestSchema } from '../job.ts';

const operationId = z.string().regex(OPERATION_ID_PATTERN);

export const fleetExecutionSchema = z.looseObject({
  operationId,
  request: fleetRequestSchema,
  startedAt: z.string(),
});
export type FleetExecution = z.infer<typeof fleetExecutionSchema>;

export const canaryStateSchema = z.strictObject({
  next: z.number().int().min(0),
  succeeded: z.number().int().min(0),
  done: z.boolean(),
  stopped: z.boolean(),
  /** Targets left for the Map once the stage is done (0 while it runs, or when it stopped). */
  fleetCount: z.number().int().min(0),
});

/**
 * What the run holds of the worker's concurrency pool (lib/fleet/concurrency-pool.ts) and for
 * which stage: `none` before its first reservation, `canary` (one unit: canaries run one at a
 * time), `fleet` (the Map's MaxConcurrency is `granted`). `granted` 0: none granted yet, the run
 * waits `wait` seconds and asks again (`tries` so far, from which the wait grows).
 */
export const slotsSchema = z.strictObject({
  stage: z.enum(['none', 'canary', 'fleet']),
  granted: z.number().int().min(0),
  wait: z.number().int().min(0),
  tries: z.number().int().min(0),
});
export type Slots = z.infer<typeof slotsSchema>;

/** The slots of a plan before its first reservation. */
export const NO_SLOTS: Slots = { stage: 'none', granted: 0, wait: 0, tries: 0 };

export const fleetPlanSchema = z.strictObject({
  total: z.number().int().min(0),
  rate: z.strictObject({
    maxConcurrency: z.number().int().min(1),
    maxErrors: z.number().int().min(0),
    canary: z.number().int().min(0),
  }),
  /** What the Map asks of the pool: `maxConcurrency` capped below the reserved concurrency. */
  mapConcurrency: z.number().int().min(1),
  healthGate: z.boolean(),
  callbackUrl: z.string().nullable(),
  bucket: z.string(),
  keys: z.strictObject({ targets: z.string(), fleet: z.string(), results: z.string(), result: z.string() }),
  canary: canaryStateSchema,
  // A plan made before the pool (a run under way when the stack was updated) holds nothing.
  slots: slotsSchema.default(() => ({ ...NO_SLOTS })),
});
export type FleetPlan = z.infer<typeof fleetPlanSchema>;

const objectRef = z.looseObject({ Bucket: z.string(), Key: z.string() });

/** The execution's state after the plan (and, for the aggregate step, after the Map). */
export const fleetRunStateSchema = z.looseObject({
  ...fleetExecutionSchema.shape,
  plan: fleetPlanSchema,
  fleetRun: z.looseObject({ ResultWriterDetails: objectRef.optional() }).optional(),
});
export type FleetRunState = z.infer<typeof fleetRunStateSchema>;

export const targetItemSchema = z.strictObject({ server: z.string(), index: z.number().int().min(0) });
export type TargetItem = z.infer<typeof targetItemSchema>;

/** One Map child: the run's id and request, its limits, and its item. */
export const targetStepSchema = z.looseObject({
  operationId,
  request: fleetRequestSchema,
  maxErrors: z.number().int().min(0),
  healthGate: z.boolean(),
  item: targetItemSchema,
});
export type TargetStepInput = z.infer<typeof targetStepSchema>;

/**
 * A Map child whose target step failed for good (its retries spent): the state machine catches
 * the step's error into `stepFailure` and hands it to the `target-gave-up` step with the item.
 */
export const targetGaveUpSchema = z.looseObject({
  operationId,
  item: targetItemSchema,
  stepFailure: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
});
export type TargetGaveUpInput = z.infer<typeof targetGaveUpSchema>;

/**
 * A fleet run's execution that ended without its aggregate step (failed, timed out, aborted), as
 * the stack's EventBridge rule hands it to the worker: its units of the pool are given back.
 */
export const runEndedSchema = z.strictObject({
  /** The execution's name. */
  operationId: z.string().min(1).max(80),
  status: z.string(),
  /** The execution's ARN. */
  execution: z.string().min(1).optional(),
});
export type RunEndedInput = z.infer<typeof runEndedSchema>;
