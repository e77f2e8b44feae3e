/**
 * The SSM transport: `createSsmTransport({ client, instanceId })` with an `SSMClient` the caller
 * builds (`retryMode: 'adaptive'` recommended), and `SsmBatcher` to share one `SendCommand` of up
 * to 50 instances among hosts running the same program.
 */
export {
  type InvocationRequest,
  type InvocationResult,
  SsmBatcher,
  type SsmBatcherOptions,
  sharedBatcher,
} from './batcher.ts';
export { COMMANDS_LIMIT } from './frame.ts';
export { type InvocationVerdict, judgeInvocation } from './status.ts';
export { createSsmTransport, isInstanceId, type SsmTransportOptions } from './transport.ts';
