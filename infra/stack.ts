/**
 * The cloudiq-bootstrap stack (SPEC 7.5): the HTTP API to `api`; `worker` for long operations,
 * invoked asynchronously, failures to a queue with an alarm; `heartbeat` on a schedule;
 * `batch-upgrade` for the console; the state machine for fleets past one function run; the SSH
 * key and callback secret; the inventory's source; logs with retention; alarms.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { BootstrapApi } from './api.ts';
import { RUNS_PREFIX, STEP_FUNCTIONS_THRESHOLD } from './batch-plan.ts';
import { ENV, METRICS_NAMESPACE, SERVICE_NAME } from './environment.ts';
import { BootstrapFunction, type FunctionName } from './function.ts';
import {
  invokeStatement,
  listFleetStatement,
  readInventoryStatement,
  readSecretsStatement,
  runsBucketStatements,
  ssmRunStatements,
  startExecutionStatement,
} from './iam.ts';
import type { StackSettings } from './settings.ts';
import { BatchStateMachine } from './state-machine.ts';

/** Where the stack's own inventory bucket expects the inventory when the context names none. */
export const DEFAULT_INVENTORY_KEY = 'inventory.ini';

export interface CloudiqStackProps extends StackProps {
  settings: StackSettings;
  /** The code of each function (infra/app.ts: the bundles of scripts/bundle.mjs). */
  code: (name: FunctionName) => lambda.Code;
}

export class CloudiqStack extends Stack {
  readonly functions: Record<FunctionName, BootstrapFunction>;
  readonly batch: BatchStateMachine;
  readonly api: BootstrapApi;

  constructor(scope: Construct, id: string, props: CloudiqStackProps) {
    super(scope, id, props);
    // The Distributed Maps' ResultWriter with a prefix from the state (see state-machine.ts).
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true);
    const { settings } = props;
    const retention = settings.logRetentionDays as logs.RetentionDays;

    const sshKey = this.secret(
      'SshKey',
      settings.sshKeySecretArn,
      'SSH private key the functions log in with',
    );
    const callbackSecret = this.secret(
      'CallbackSecret',
      settings.callbackSecretArn,
      'HMAC secret of X-Bootstrap-Signature on callbacks (SPEC 5)',
    );
    const inventory = settings.inventorySource ?? {
      bucket: this.bucket('InventoryBucket').bucketName,
      key: DEFAULT_INVENTORY_KEY,
    };
    const runsBucket = this.bucket('RunsBucket', Duration.days(90));

    const common: Record<string, string> = {
      [ENV.inventorySource]: `s3://${inventory.bucket}/${inventory.key}`,
      [ENV.sshKeySecretArn]: sshKey.secretArn,
      ...(settings.knownHostsSecretArn ? { [ENV.knownHostsSecretArn]: settings.knownHostsSecretArn } : {}),
      ...(settings.callbackAllowPrivate ? { [ENV.callbackAllowPrivate]: 'true' } : {}),
      [ENV.fleetTagKey]: settings.fleetTagKey,
      [ENV.fleetTagValue]: settings.fleetTagValue,
      [ENV.powertoolsServiceName]: SERVICE_NAME,
      [ENV.powertoolsMetricsNamespace]: METRICS_NAMESPACE,
    };
    const withCallback = { ...common, [ENV.callbackSecretArn]: callbackSecret.secretArn };
    const make = (name: FunctionName, description: string, memorySize: number, timeout: Duration) =>
      new BootstrapFunction(this, `${pascal(name)}Function`, {
        name,
        description,
        code: props.code(name),
        memorySize,
        timeout,
        environment: name === 'api' ? { ...common } : { ...withCallback },
        logRetention: retention,
        network: settings.network,
      });
    // API Gateway gives up after 30 s; long operations answer 202 and go on in the worker.
    const api = make('api', 'cloudiq-bootstrap HTTP API (SPEC 7.1)', 512, Duration.seconds(29));
    const worker = make(
      'worker',
      'cloudiq-bootstrap long operations and batch steps',
      1024,
      Duration.minutes(15),
    );
    const heartbeat = make(
      'heartbeat',
      'cloudiq-bootstrap fleet heartbeat (SPEC 7.2)',
      1024,
      Duration.minutes(4),
    );
    const batchUpgrade = make(
      'batch-upgrade',
      'cloudiq-bootstrap batch upgrade (SPEC 7.3)',
      1024,
      Duration.minutes(15),
    );
    this.functions = { api, worker, heartbeat, 'batch-upgrade': batchUpgrade };

    this.batch = new BatchStateMachine(this, 'BatchStateMachine', {
      worker: worker.function,
      runsBucket,
      logRetention: retention,
    });

    // Every function reaches hosts (SSM, or SSH with the key) and reads the inventory.
    for (const fn of Object.values(this.functions)) {
      for (const statement of ssmRunStatements(this, settings.fleetTagKey, settings.fleetTagValue)) {
        fn.role.addToPolicy(statement);
      }
      fn.role.addToPolicy(readInventoryStatement(inventory.bucket, inventory.key));
      fn.role.addToPolicy(listFleetStatement());
      const secretArns = [sshKey.secretArn];
      if (settings.knownHostsSecretArn) secretArns.push(settings.knownHostsSecretArn);
      if (fn !== api) secretArns.push(callbackSecret.secretArn);
      fn.role.addToPolicy(readSecretsStatement(secretArns));
    }
    // api and batch-upgrade hand long work to the worker, or to the state machine past the threshold.
    for (const starter of [api, batchUpgrade]) {
      starter.function.addEnvironment(ENV.workerFunctionName, worker.function.functionName);
      starter.function.addEnvironment(ENV.batchStateMachineArn, this.batch.stateMachine.stateMachineArn);
      starter.function.addEnvironment(ENV.stepFunctionsThreshold, String(STEP_FUNCTIONS_THRESHOLD));
      starter.role.addToPolicy(invokeStatement('InvokeWorker', worker.function.functionArn));
      starter.role.addToPolicy(startExecutionStatement(this.batch.stateMachine.stateMachineArn));
    }
    // The worker plans and aggregates batches in the runs bucket, and hands over to itself (by
    // Lambda's own AWS_LAMBDA_FUNCTION_NAME). That grant is a policy of its own: in the role's
    // default policy it would make the function depend on its own ARN.
    worker.function.addEnvironment(ENV.batchRunsBucket, runsBucket.bucketName);
    for (const statement of runsBucketStatements(runsBucket.bucketArn, RUNS_PREFIX)) {
      worker.role.addToPolicy(statement);
    }
    new iam.Policy(this, 'WorkerHandOver', {
      roles: [worker.role],
      statements: [invokeStatement('InvokeSelf', worker.function.functionArn)],
    });
    if (settings.heartbeatCallbackUrl) {
      heartbeat.function.addEnvironment(ENV.heartbeatCallbackUrl, settings.heartbeatCallbackUrl);
    }

    // Asynchronous invocations that still fail after Lambda's retries land here, with the event.
    const workerFailures = new sqs.Queue(this, 'WorkerFailures', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    worker.function.configureAsyncInvoke({
      onFailure: new SqsDestination(workerFailures),
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
    });

    new events.Rule(this, 'HeartbeatSchedule', {
      description: 'cloudiq-bootstrap fleet heartbeat (SPEC 7.2)',
      schedule: events.Schedule.expression(settings.heartbeatSchedule),
      // A missed heartbeat is superseded by the next one: no retries.
      targets: [new eventTargets.LambdaFunction(heartbeat.function, { retryAttempts: 0 })],
    });

    this.api = new BootstrapApi(this, 'HttpApi', {
      handler: api.function,
      authorizer: settings.authorizer,
      logRetention: retention,
    });

    const alarms: cloudwatch.Alarm[] = Object.values(this.functions).map((fn) => fn.errorsAlarm);
    alarms.push(
      workerFailures
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) })
        .createAlarm(this, 'WorkerFailuresAlarm', {
          alarmDescription:
            'cloudiq-bootstrap: a worker invocation failed for good (see the WorkerFailures queue)',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      this.batch.stateMachine
        .metricFailed({ period: Duration.minutes(5) })
        .createAlarm(this, 'BatchFailedAlarm', {
          alarmDescription: 'cloudiq-bootstrap: a batch-upgrade execution failed, timed out or was aborted',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    if (settings.alarmTopicArn) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn);
      for (const alarm of alarms) alarm.addAlarmAction(new cwActions.SnsAction(topic));
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'InventorySource', { value: `s3://${inventory.bucket}/${inventory.key}` });
    new CfnOutput(this, 'SshKeySecretArn', { value: sshKey.secretArn });
    new CfnOutput(this, 'CallbackSecretArn', { value: callbackSecret.secretArn });
    new CfnOutput(this, 'WorkerFunctionName', { value: worker.function.functionName });
    new CfnOutput(this, 'BatchUpgradeFunctionName', { value: batchUpgrade.function.functionName });
    new CfnOutput(this, 'BatchStateMachineArn', { value: this.batch.stateMachine.stateMachineArn });
    new CfnOutput(this, 'WorkerFailuresQueueUrl', { value: workerFailures.queueUrl });
  }

  /**
   * An existing secret by its complete ARN, or a new one holding a random placeholder that the
   * operator replaces (`aws secretsmanager put-secret-value`); kept when the stack is deleted.
   */
  private secret(id: string, arn: string | undefined, description: string): { secretArn: string } {
    if (arn) return secrets.Secret.fromSecretCompleteArn(this, id, arn);
    return new secrets.Secret(this, id, {
      description: `cloudiq-bootstrap: ${description}`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  private bucket(id: string, expireAfter?: Duration): s3.Bucket {
    return new s3.Bucket(this, id, {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: expireAfter === undefined,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: expireAfter === undefined ? [] : [{ prefix: RUNS_PREFIX, expiration: expireAfter }],
    });
  }
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, _dash, letter: string) => letter.toUpperCase());
}
