/**
 * The batch-upgrade state machine: fleet upgrades past `STEP_FUNCTIONS_THRESHOLD` targets, with
 * no invocation longer than one target's upgrade however large the fleet.
 *
 *   Plan (worker) → canary stage → fleet stage → Aggregate (worker: result + callback)
 *
 * Both stages are Distributed Maps reading their items from the runs bucket (an execution's
 * input is limited to 256 KB; ten thousand host names are not), each item one target's upgrade
 * through the worker as a standard child execution (upgrades with a health gate can outlast the
 * five minutes of an express one). The canary stage runs its items one at a time and tolerates no
 * failure; the fleet stage takes `MaxConcurrency` and `ToleratedFailureCount` from the plan
 * (lib/fleet/rate.ts resolved them, see infra/batch-plan.ts). A stage that stops early is caught
 * and the run still ends in the aggregate step, so the callback always comes.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** Lambda's transient errors, retried on every worker step. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];

/** The error a Map state fails with once more items failed than it tolerates. */
export const EXCEEDED_TOLERATED_FAILURES = 'States.ExceedToleratedFailureThreshold';

export interface BatchStateMachineProps {
  worker: lambda.IFunction;
  runsBucket: s3.Bucket;
  logRetention: logs.RetentionDays;
  /** How long one batch may run in all. Default 7 days. */
  timeout?: Duration;
}

export class BatchStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BatchStateMachineProps) {
    super(scope, id);
    const { worker, runsBucket } = props;

    const plan = new tasks.LambdaInvoke(this, 'Plan', {
      comment: 'Resolve the selection and rate controls; write the canary and fleet item lists.',
      lambdaFunction: worker,
      payload: sfn.TaskInput.fromObject({
        mode: 'plan',
        operationId: sfn.JsonPath.stringAt('$.operationId'),
        request: sfn.JsonPath.objectAt('$.request'),
        startedAt: sfn.JsonPath.stringAt('$.startedAt'),
      }),
      payloadResponseOnly: true,
      resultPath: '$.plan',
      retryOnServiceExceptions: false,
    });
    retryTransient(plan);

    const aggregate = new tasks.LambdaInvoke(this, 'Aggregate', {
      comment: 'Aggregate every target report, store the result, POST the callback.',
      lambdaFunction: worker,
      payload: sfn.TaskInput.fromObject({ mode: 'aggregate', run: sfn.JsonPath.entirePayload }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
    });
    retryTransient(aggregate);
    aggregate.next(new sfn.Succeed(this, 'Done'));

    const stopped = (name: string, reason: string) =>
      new sfn.Pass(this, name, { result: sfn.Result.fromString(reason), resultPath: '$.stopReason' }).next(
        aggregate,
      );
    const canaryFailed = stopped('CanaryFailed', 'CANARY_FAILED');
    const maxErrorsExceeded = stopped('MaxErrorsExceeded', 'MAX_ERRORS_EXCEEDED');
    const aborted = stopped('Aborted', 'ABORTED');

    // Tolerating no failure is also Step Functions' default; CDK leaves the zero out of the definition.
    const canary = this.stage('Canary', worker, runsBucket, 'canary', {
      maxConcurrency: 1,
      toleratedFailureCount: 0,
    });
    const fleet = this.stage('Fleet', worker, runsBucket, 'fleet', {
      maxConcurrencyPath: '$.plan.rate.maxConcurrency',
      toleratedFailureCountPath: '$.plan.rate.maxErrors',
    });
    canary.addCatch(canaryFailed, { errors: [EXCEEDED_TOLERATED_FAILURES], resultPath: '$.error' });
    canary.addCatch(aborted, { errors: ['States.ALL'], resultPath: '$.error' });
    fleet.addCatch(maxErrorsExceeded, { errors: [EXCEEDED_TOLERATED_FAILURES], resultPath: '$.error' });
    fleet.addCatch(aborted, { errors: ['States.ALL'], resultPath: '$.error' });

    const hasFleet = new sfn.Choice(this, 'HasFleetTargets')
      .when(sfn.Condition.numberGreaterThan('$.plan.counts.fleet', 0), fleet.next(aggregate))
      .otherwise(aggregate);
    const hasCanaries = new sfn.Choice(this, 'HasCanaries')
      .when(sfn.Condition.numberGreaterThan('$.plan.counts.canary', 0), canary.next(hasFleet))
      .otherwise(hasFleet);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      comment: 'cloudiq-bootstrap: fleet upgrades too large for one function run (SPEC 4, 7.3)',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(hasCanaries)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.days(7),
      logs: { destination: this.logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: false },
    });
  }

  /** One stage: a Distributed Map over `<phase>Key`, each item one target through the worker. */
  private stage(
    name: string,
    worker: lambda.IFunction,
    runsBucket: s3.Bucket,
    phase: 'canary' | 'fleet',
    limits: Pick<
      sfn.DistributedMapJsonPathProps,
      'maxConcurrency' | 'maxConcurrencyPath' | 'toleratedFailureCount' | 'toleratedFailureCountPath'
    >,
  ): sfn.DistributedMap {
    // aws-cdk-lib's Bucket declares `isWebsite` as `boolean | undefined` where IBucket has
    // `isWebsite?: boolean`, which this repository's exactOptionalPropertyTypes tells apart.
    const bucket = runsBucket as s3.IBucket;
    const map = new sfn.DistributedMap(this, name, {
      comment:
        phase === 'canary'
          ? 'The first `canary` targets one at a time; a failed one stops the run.'
          : 'The rest of the selection, maxConcurrency at a time, maxErrors tolerated.',
      label: name,
      ...limits,
      itemReader: new sfn.S3JsonItemReader({
        bucket,
        key: sfn.JsonPath.stringAt(`$.plan.runs.${phase}Key`),
      }),
      itemSelector: {
        mode: 'target',
        operationId: sfn.JsonPath.stringAt('$.operationId'),
        request: sfn.JsonPath.objectAt('$.request'),
        healthGate: sfn.JsonPath.objectAt('$.plan.healthGate'),
        phase,
        item: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      resultWriterV2: new sfn.ResultWriterV2({
        bucket,
        prefix: sfn.JsonPath.stringAt(`$.plan.runs.${phase}ResultsPrefix`),
      }),
      resultPath: `$.${phase}Run`,
      mapExecutionType: sfn.StateMachineType.STANDARD,
    });
    map.itemProcessor(this.targetSteps(name, worker));
    return map;
  }

  /**
   * One target: invoke the worker with the item's state until it answers a final report.
   * `running` comes back with a continuation, which the next call carries (the first call has
   * none); `failed` fails the item, its report the cause, so the Map counts it against the
   * tolerated failures; `succeeded` and `unreachable` end the item well, as unreachable targets
   * do not spend maxErrors in the in-process run either.
   */
  private targetSteps(stage: string, worker: lambda.IFunction): sfn.IChainable {
    const run = new tasks.LambdaInvoke(this, `${stage}Target`, {
      lambdaFunction: worker,
      payload: sfn.TaskInput.fromJsonPathAt('$'),
      resultSelector: { 'report.$': '$.Payload' },
      resultPath: '$.outcome',
      retryOnServiceExceptions: false,
    });
    retryTransient(run);
    const handOver = new sfn.Pass(this, `${stage}HandOver`, {
      parameters: {
        mode: 'target',
        operationId: sfn.JsonPath.stringAt('$.operationId'),
        request: sfn.JsonPath.objectAt('$.request'),
        healthGate: sfn.JsonPath.objectAt('$.healthGate'),
        phase: sfn.JsonPath.stringAt('$.phase'),
        item: sfn.JsonPath.objectAt('$.item'),
        continuation: sfn.JsonPath.objectAt('$.outcome.report.continuation'),
      },
    });
    const failed = new sfn.Fail(this, `${stage}TargetFailed`, {
      error: 'TargetFailed',
      causePath: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.outcome.report')),
    });
    const finished = new sfn.Succeed(this, `${stage}TargetFinished`, { outputPath: '$.outcome.report' });
    return run.next(
      new sfn.Choice(this, `${stage}TargetOutcome`)
        .when(sfn.Condition.stringEquals('$.outcome.report.status', 'running'), handOver.next(run))
        .when(sfn.Condition.stringEquals('$.outcome.report.status', 'failed'), failed)
        .otherwise(finished),
    );
  }
}

function retryTransient(task: tasks.LambdaInvoke): void {
  task.addRetry({
    errors: LAMBDA_TRANSIENT_ERRORS,
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxDelay: Duration.minutes(1),
    // Thousands of items at once can meet the account's Lambda concurrency for a while.
    maxAttempts: 10,
    jitterStrategy: sfn.JitterType.FULL,
  });
}
