/**
 * The SSM SDK's commands this transport sends, loaded on first use through load-sdk.ts: a process
 * with no SSM host never evaluates the SDK. Through this module rather than
 * `import('@aws-sdk/client-ssm')` itself, so that a bundle split into chunks keeps the SDK in the
 * one chunk its static importers share.
 */
export {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  paginateDescribeInstanceInformation,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
