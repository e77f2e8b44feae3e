/**
 * An Amazon States Language interpreter for tests: Step Functions cannot run here, so its
 * semantics are simulated in-process over the real step handlers (README.md beside this file).
 */
export { ExecutionAlreadyExists, LambdaServiceError, NotImplementedError, StatesError } from './errors.ts';
export { findStateMachines, functionArn, logicalIdOf, resolveDefinition } from './resolve-definition.ts';
export { type Handler, routeByLogicalId } from './route-by-logical-id.ts';
export { s3FromClient } from './s3-client.ts';
export {
  Execution,
  type ExecutionResult,
  type ExecutionStatus,
  SimulatedStepFunctions,
  type SimulationOptions,
  type StartExecutionRequest,
} from './simulated-step-functions.ts';
export { PAYLOAD_LIMIT_BYTES } from './state-io.ts';
export type { Invoke, InvokeContext, S3Like, TraceEvent } from './types.ts';
export { validateDefinition } from './validate-definition.ts';
export { VirtualClock } from './virtual-clock.ts';
