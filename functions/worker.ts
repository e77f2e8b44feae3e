/**
 * The steps of the fleet-run and operation state machines (infra/state-machines.ts), one Lambda
 * function. An adapter only: the event is parsed with zod, the step runs in lib/fleet/steps over
 * this cold start's dependencies, and what fails is thrown for Step Functions to see.
 */
import { parseWith } from '../lib/api/params.ts';
import { runWorkerStep, workerStepSchema } from '../lib/fleet/steps/worker-steps.ts';
import { runtime, stepDeps } from './composition.ts';

/** Lambda entry point. */
export async function handler(event: unknown) {
  const input = parseWith(workerStepSchema, event, 'worker step');
  return runWorkerStep(await stepDeps(await runtime()), input);
}
