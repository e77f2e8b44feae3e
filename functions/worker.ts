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
  // A run's plan and its canaries (one at a time) list the inventory's sources afresh; a target
  // may use a recent listing that knows its server.
  const fresh = input.step === 'plan' || input.step === 'canary';
  const servers = input.step === 'target' ? [input.item.server] : [];
  return runWorkerStep(await stepDeps(await runtime({ fresh, servers })), input);
}
