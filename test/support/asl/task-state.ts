/**
 * A Task's work: the Lambda integration (`arn:aws:states:::lambda:invoke`), a function ARN
 * called directly, or another service integration handed to `invoke` as it is. The payload goes
 * through JSON both ways, as it does over Lambda's wire. Lambda's error mapping:
 * - a function error: Error = the thrown error's name (Lambda's errorType), Cause = JSON of
 *   `{ errorType, errorMessage, trace }`;
 * - a Lambda service error (`LambdaServiceError`, or an AWS SDK exception, which carries
 *   `$metadata`): Error = `Lambda.<name>`.
 * https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
import { randomUUID } from 'node:crypto';
import { LambdaServiceError, NotImplementedError, StatesError } from './errors.ts';
import { checkSize } from './state-io.ts';
import type { InvokeContext, Json, Run, StateDefinition } from './types.ts';

const LAMBDA_INTEGRATION = /^arn:[^:]+:states:::lambda:invoke(\..+)?$/;
const FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$/;
const SERVICE_INTEGRATION = /^arn:[^:]+:states:::/;
const PLACEHOLDER_FUNCTION = /^arn:aws:lambda:sim:000000000000:function:([^:]+)$/;

/** A service's own failure (throttling, a conditional check), not the function's or the handler's. */
const isServiceError = (error: unknown): error is Error =>
  error instanceof LambdaServiceError || (error instanceof Error && '$metadata' in error);

/** Runs the Task's work on its effective input and answers its raw result. */
export async function runTask(
  state: StateDefinition,
  stateName: string,
  payloadIn: Json,
  run: Run,
  retryCount: number,
): Promise<Json> {
  const resource = state.Resource;
  if (typeof resource !== 'string')
    throw new StatesError('States.Runtime', `Task ${stateName} has no Resource`);
  const lambda = LAMBDA_INTEGRATION.exec(resource);
  if (lambda?.[1])
    throw new NotImplementedError(`Task Resource ${resource} (integration pattern ${lambda[1]})`);
  let functionName: string | undefined;
  let payload: Json = payloadIn;
  if (lambda) {
    const params = (payloadIn ?? {}) as Record<string, unknown>;
    if (typeof params.FunctionName !== 'string') {
      throw new StatesError(
        'States.Runtime',
        `Task ${stateName}: lambda:invoke needs Parameters.FunctionName`,
      );
    }
    if (params.InvocationType !== undefined && params.InvocationType !== 'RequestResponse') {
      throw new NotImplementedError(`lambda:invoke InvocationType ${String(params.InvocationType)}`);
    }
    functionName = params.FunctionName;
    payload = params.Payload ?? {};
  } else if (FUNCTION_ARN.test(resource)) {
    functionName = resource;
  } else if (!SERVICE_INTEGRATION.test(resource)) {
    throw new NotImplementedError(`Task Resource ${resource} (activities and other resource kinds)`);
  }
  const target = functionName ?? resource;
  const wire = checkSize(payload, 'task payload');
  const { runtime } = run;
  const invocation = runtime.clock.trackedWork();
  const ctx: InvokeContext = {
    resource,
    functionName,
    logicalId: PLACEHOLDER_FUNCTION.exec(target)?.[1] ?? FUNCTION_ARN.exec(target)?.[1],
    stateName,
    executionArn: run.execution.Id,
    executionName: run.execution.Name,
    retryCount,
    sleep: invocation.sleep,
  };
  runtime.record(run.events, {
    type: 'TaskScheduled',
    at: runtime.clock.now(),
    execution: run.execution.Name,
    state: stateName,
    resource,
    target,
    payload: JSON.parse(wire),
  });
  let answer: Json;
  try {
    answer = await invocation.run(() => runtime.invoke(target, JSON.parse(wire), ctx));
  } catch (error) {
    const failure = toStatesError(error, functionName !== undefined, resource);
    runtime.record(run.events, {
      type: 'TaskFailed',
      at: runtime.clock.now(),
      execution: run.execution.Name,
      state: stateName,
      error: failure.error,
      cause: failure.cause,
    });
    throw failure;
  }
  const text = checkSize(answer ?? null, 'task result');
  const result = JSON.parse(text) as Json;
  runtime.record(run.events, {
    type: 'TaskSucceeded',
    at: runtime.clock.now(),
    execution: run.execution.Name,
    state: stateName,
    output: result,
  });
  if (!lambda) return result;
  const requestId = randomUUID();
  return {
    ExecutionVersion: '$LATEST',
    Payload: result,
    SdkHttpMetadata: {
      HttpHeaders: { 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId },
      HttpStatusCode: 200,
    },
    SdkResponseMetadata: { RequestId: requestId },
    StatusCode: 200,
  };
}

/**
 * The service prefix of a service error: `Lambda.` for Lambda; `DynamoDB.`, `SQS.`, `SNS.` for
 * the optimized integrations; for `aws-sdk:<service>:<action>` the service in PascalCase with the
 * error name given an `Exception` suffix (as the AWS SDK integrations page documents:
 * `AcmPca.ResourceNotFoundException`, `S3.BucketAlreadyExistsException`).
 * https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
 */
function serviceErrorName(resource: string, isLambda: boolean, name: string): string {
  if (isLambda) return `Lambda.${name}`;
  const sdk = /^arn:[^:]+:states:::aws-sdk:([^:]+):/.exec(resource);
  if (sdk) {
    const service = SDK_SERVICE_NAMES[sdk[1]!] ?? sdk[1]!.charAt(0).toUpperCase() + sdk[1]!.slice(1);
    return `${service}.${name.endsWith('Exception') ? name : `${name}Exception`}`;
  }
  const optimized = /^arn:[^:]+:states:::([a-z0-9-]+):/.exec(resource)?.[1];
  const prefix = optimized ? OPTIMIZED_PREFIX[optimized] : undefined;
  return prefix ? `${prefix}.${name}` : name;
}

const SDK_SERVICE_NAMES: Record<string, string> = {
  acmpca: 'AcmPca',
  dynamodb: 'DynamoDb',
  secretsmanager: 'SecretsManager',
  cloudwatch: 'CloudWatch',
  eventbridge: 'EventBridge',
};
const OPTIMIZED_PREFIX: Record<string, string> = { dynamodb: 'DynamoDB', sqs: 'SQS', sns: 'SNS' };

function toStatesError(error: unknown, isLambda: boolean, resource: string): StatesError {
  if (error instanceof StatesError) return error;
  if (error instanceof NotImplementedError) throw error;
  if (error instanceof Error && isServiceError(error)) {
    return new StatesError(serviceErrorName(resource, isLambda, error.name), error.message);
  }
  if (error instanceof Error) {
    const errorType = error.name || 'Error';
    if (!isLambda) return new StatesError(errorType, error.message);
    const trace = (error.stack ?? '').split('\n');
    return new StatesError(errorType, JSON.stringify({ errorType, errorMessage: error.message, trace }));
  }
  const text = typeof error === 'string' ? error : JSON.stringify(error);
  return new StatesError('Error', JSON.stringify({ errorType: 'Error', errorMessage: text, trace: [] }));
}
