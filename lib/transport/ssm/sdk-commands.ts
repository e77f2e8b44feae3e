/**
 * The SSM SDK's client and the commands this transport sends, loaded on first use (load-sdk.ts,
 * the CLI's composition roots): a process with no SSM host never evaluates the SDK. Always through
 * this module rather than `import('@aws-sdk/client-ssm')` itself: in a bundle split into chunks,
 * that keeps the SDK in the one chunk its static importers share, and an import() of the package's
 * CommonJS build would yield only its `default` export.
 */
export {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  paginateDescribeInstanceInformation,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
