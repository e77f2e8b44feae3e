/**
 * The worker's events, as the fleet-run, operation and change-callback state machines send them
 * (its `step` names the step), and the one dispatch over them: functions/worker.ts parses an
 * event with `workerStepSchema` and calls `runWorkerStep`, and so does the simulation of the
 * state machines in the tests, over the same steps.
 */
import * as z from 'zod';
import { aggregateFleetRun } from './aggregate-step.ts';
import { changeCallbackSchema, deliverChange } from './change.ts';
import type { StepDeps } from './deps.ts';
import {
  fleetExecutionSchema,
  fleetRunStateSchema,
  runEndedSchema,
  targetGaveUpSchema,
  targetStepSchema,
} from './events.ts';
import { deliverOperation, operationRunSchema, pollOperation } from './operation.ts';
import { planFleetRun } from './plan.ts';
import { reserveSlots, runEnded } from './reserve.ts';
import { runCanaryStep, runTargetGaveUp, runTargetStep } from './target-step.ts';

export const workerStepSchema = z.discriminatedUnion('step', [
  z.strictObject({ step: z.literal('plan'), run: fleetExecutionSchema }),
  z.strictObject({
    step: z.literal('reserve'),
    run: fleetRunStateSchema,
    execution: z.string().min(1).optional(),
  }),
  z.strictObject({ step: z.literal('canary'), run: fleetRunStateSchema }),
  z.looseObject({ step: z.literal('target'), ...targetStepSchema.shape }),
  z.looseObject({ step: z.literal('target-gave-up'), ...targetGaveUpSchema.shape }),
  z.strictObject({ step: z.literal('aggregate'), run: fleetRunStateSchema }),
  z.strictObject({ step: z.literal('operation-poll'), run: operationRunSchema }),
  z.strictObject({ step: z.literal('operation-deliver'), run: operationRunSchema }),
  z.strictObject({ step: z.literal('change-deliver'), run: changeCallbackSchema }),
  z.strictObject({ step: z.literal('run-ended'), ...runEndedSchema.shape }),
]);
export type WorkerStep = z.infer<typeof workerStepSchema>;

/** Runs one step; a target's own failure is in its answer, only a broken step rejects. */
export async function runWorkerStep(deps: StepDeps, input: WorkerStep) {
  switch (input.step) {
    case 'plan':
      return planFleetRun(deps, input.run);
    case 'reserve':
      return reserveSlots(deps, input.run, input.execution);
    case 'canary':
      return runCanaryStep(deps, input.run);
    case 'target':
      return runTargetStep(deps, input);
    case 'target-gave-up':
      return runTargetGaveUp(deps, input);
    case 'aggregate':
      return aggregateFleetRun(deps, input.run);
    case 'operation-poll':
      return pollOperation(deps, input.run);
    case 'operation-deliver': {
      const result = await deliverOperation(deps, input.run);
      return { operationId: result.operationId, status: result.status, callback: result.callback ?? null };
    }
    case 'change-deliver':
      return deliverChange(deps, input.run);
    case 'run-ended':
      return runEnded(deps, input);
  }
}
