/**
 * The cloudiq-bootstrap stack (SPEC 7.5): the HTTP API to `api`, its fleet console's open page to
 * `console` (which may reach nothing); `batch-upgrade` for the AWS console; the state machines that carry every run that outlasts a request (fleet runs, one server's long
 * operation, the heartbeat of each period, a quick change's callback), their steps in `worker`
 * and `heartbeat`, each with a reserved concurrency the Maps stay below; the schedule; the runs bucket; the SSH key and
 * callback secret; the inventory's source; logs with retention; alarms. No function invokes
 * another or itself: Step Functions carries the work on.
 */
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ENV, METRICS_NAMESPACE, RUNS_PREFIX, SERVICE_NAME } from '../lib/cloud/environment.ts';
import { HEARTBEAT_METRICS } from '../lib/fleet/heartbeat.ts';
import { LAMBDA_MAX_MS, planHeartbeatShards } from '../lib/fleet/heartbeat-shards.ts';
import { BootstrapApi } from './api.ts';
import { BootstrapFunction, type FunctionName } from './function.ts';
import {
  listFleetStatement,
  readInventoryStatement,
  readSecretsStatement,
  runsBucketStatements,
  ssmRunStatements,
  startExecutionStatement,
  writeChangeResultsStatement,
} from './iam.ts';
import { RunTable } from './run-table.ts';
import { schedulePeriodMs as periodOf, type StackSettings } from './settings.ts';
import { RunStateMachines } from './state-machines.ts';

/** The environment variables that name a secret a function reads (granted by `make`). */
const SECRET_ENV_KEYS = [ENV.sshKeySecretArn, ENV.knownHostsSecretArn, ENV.callbackSecretArn];

/**
 * Executions of the worker kept outside the fleet runs' concurrency pool (lib/fleet/steps/reserve.ts),
 * for the short steps that do no target's work: plan, reserve, aggregate, a long operation's
 * polls and delivery, a quick change's callback. A run's canaries and Map children are inside the
 * pool. A short step throttled past the headroom is retried.
 */
export const WORKER_STEP_HEADROOM = 10;
/** The ends of an execution that did not run its last step (Step Functions' EventBridge statuses). */
export const RUN_ENDED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** Executions of the heartbeat function kept for its plan and report steps and the schedule. */
export const HEARTBEAT_STEP_HEADROOM = 2;

/**
 * What the heartbeat function's timeout leaves after a shard's budget: the cold start, reading a
 * kept shard record before the budget's clock starts, and writing the shard's record after it.
 */
export const HEARTBEAT_SHARD_MARGIN_MS = 60_000;
/** The heartbeat function's shortest timeout: the plan and report steps (inventory, callback) need it. */
export const HEARTBEAT_MIN_TIMEOUT_MS = 5 * 60_000;

/** Where the stack's own inventory bucket expects the inventory when the context names none. */
export const DEFAULT_INVENTORY_KEY = 'inventory.ini';

export interface CloudiqStackProps extends StackProps {
  settings: StackSettings;
  /** The code of each function (infra/app.ts: the bundles of scripts/bundle.mjs). */
  code: (name: FunctionName) => lambda.Code;
}

export class CloudiqStack extends Stack {
  readonly functions: Record<FunctionName, BootstrapFunction>;
  readonly machines: RunStateMachines;
  readonly runTable: RunTable;
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
      ...(settings.callbackAllowPrivate ? { [ENV.callbackAllowPrivate]: 'true' } : {}),
      [ENV.fleetTagKey]: settings.fleetTagKey,
      [ENV.fleetTagValue]: settings.fleetTagValue,
      [ENV.powertoolsServiceName]: SERVICE_NAME,
      [ENV.powertoolsMetricsNamespace]: METRICS_NAMESPACE,
    };
    // The secrets each function reads, and only those (`make` grants what the environment names):
    // what reaches hosts reads the SSH key (and known_hosts), what calls back the callback secret.
    const hostSecrets: Record<string, string> = {
      [ENV.sshKeySecretArn]: sshKey.secretArn,
      ...(settings.knownHostsSecretArn ? { [ENV.knownHostsSecretArn]: settings.knownHostsSecretArn } : {}),
    };
    const reachesHosts = { ...common, ...hostSecrets };
    const callsBack = { ...reachesHosts, [ENV.callbackSecretArn]: callbackSecret.secretArn };
    const make = (
      name: FunctionName,
      description: string,
      environment: Record<string, string>,
      memorySize: number,
      timeout: Duration,
      reservedConcurrency?: number,
    ) => {
      const fn = new BootstrapFunction(this, `${pascal(name)}Function`, {
        name,
        description,
        code: props.code(name),
        memorySize,
        timeout,
        environment: { ...environment },
        logRetention: retention,
        network: settings.network,
        reservedConcurrency,
      });
      // Read access to exactly the secrets its environment names: one list, never two to keep alike.
      const secretArns = SECRET_ENV_KEYS.flatMap((key) => environment[key] ?? []);
      if (secretArns.length > 0) fn.role.addToPolicy(readSecretsStatement(secretArns));
      return fn;
    };
    // API Gateway gives up after 30 s; long operations answer 202 and go on in an execution.
    const api = make('api', 'cloudiq-bootstrap HTTP API (SPEC 7.1)', reachesHosts, 512, Duration.seconds(29));
    // One target's upgrade and health gate, or one poll: well within Lambda's 15 minutes.
    const worker = make(
      'worker',
      'cloudiq-bootstrap fleet-run and operation steps',
      callsBack,
      1024,
      Duration.minutes(15),
      settings.workerReservedConcurrency,
    );
    // A shard ends within its budget, which the period sets (heartbeat-shards.ts); the timeout
    // follows from the budget, a margin above it, so no schedule's shard is killed before it records.
    const heartbeatPeriodMs = schedulePeriodMs(settings.heartbeatSchedule);
    const heartbeatTimeout = heartbeatTimeoutFor(heartbeatPeriodMs);
    const heartbeat = make(
      'heartbeat',
      'cloudiq-bootstrap fleet heartbeat (SPEC 7.2): schedule, shards, report',
      callsBack,
      1024,
      heartbeatTimeout,
      settings.heartbeatReservedConcurrency,
    );
    // It validates, records and starts a run (functions/batch-upgrade.ts, `runtime({ secrets:
    // false })`): no secret, so none named in its environment.
    const batchUpgrade = make(
      'batch-upgrade',
      'cloudiq-bootstrap batch upgrade (SPEC 7.3): starts a fleet run and answers at once',
      common,
      512,
      Duration.seconds(30),
    );
    // The fleet console's page: open routes (a browser's page load carries no signature), so a
    // function of its own that reads no environment and is granted nothing but its logs — no
    // secret, no inventory, no SSM, no EC2, no run table — outside the fleet's subnets.
    const consolePage = new BootstrapFunction(this, 'ConsoleFunction', {
      name: 'console',
      description: 'cloudiq-bootstrap fleet console page: static files, reaches nothing',
      code: props.code('console'),
      memorySize: 128,
      timeout: Duration.seconds(5),
      environment: {},
      logRetention: retention,
      network: undefined,
    });
    this.functions = { api, worker, heartbeat, 'batch-upgrade': batchUpgrade, console: consolePage };

    this.machines = new RunStateMachines(this, 'Runs', {
      worker: worker.function,
      heartbeat: heartbeat.function,
      runsBucket,
      logRetention: retention,
      // The plan, the shards and the report one after the other, each within the function's timeout.
      heartbeatTimeout: Duration.seconds(3 * heartbeatTimeout.toSeconds()),
    });
    const { fleet, operation, changeCallback } = this.machines;

    // api (one server's operations), worker (fleet-run targets) and heartbeat (shards) reach hosts
    // over SSM, or SSH with the key; batch-upgrade only validates, records and starts a run.
    for (const fn of [api, worker, heartbeat]) {
      const statements = ssmRunStatements(
        this,
        settings.fleetTagKey,
        settings.fleetTagValue,
        settings.fleetRegions,
      );
      for (const statement of statements) fn.role.addToPolicy(statement);
    }
    // Every function but the console's reads the inventory (batch-upgrade to check the selector).
    for (const fn of [api, worker, heartbeat, batchUpgrade]) {
      fn.role.addToPolicy(readInventoryStatement(inventory.bucket, inventory.key));
      fn.role.addToPolicy(listFleetStatement());
    }
    // The run records (failure count, `GET /fleet/operations/{id}`) and the delivery records.
    this.runTable = new RunTable(this, 'RunTable');
    for (const fn of [api, batchUpgrade, worker, heartbeat]) this.runTable.grantReadWrite(fn.function);
    // api and batch-upgrade start runs: executions named by operation id.
    for (const starter of [api, batchUpgrade]) {
      starter.function.addEnvironment(ENV.fleetStateMachineArn, fleet.stateMachineArn);
      starter.function.addEnvironment(ENV.operationStateMachineArn, operation.stateMachineArn);
    }
    batchUpgrade.role.addToPolicy(
      startExecutionStatement([fleet.stateMachineArn, operation.stateMachineArn]),
    );
    // api also hands a quick change's callback on (lib/fleet/steps/change.ts): its result written
    // to the runs bucket (that key alone), then a ChangeCallback execution named by its id.
    api.function.addEnvironment(ENV.changeCallbackStateMachineArn, changeCallback.stateMachineArn);
    api.function.addEnvironment(ENV.runsBucket, runsBucket.bucketName);
    api.role.addToPolicy(
      startExecutionStatement([
        fleet.stateMachineArn,
        operation.stateMachineArn,
        changeCallback.stateMachineArn,
      ]),
    );
    api.role.addToPolicy(writeChangeResultsStatement(runsBucket.bucketArn, RUNS_PREFIX));
    heartbeat.function.addEnvironment(ENV.heartbeatStateMachineArn, this.machines.heartbeatArn);
    heartbeat.role.addToPolicy(startExecutionStatement([this.machines.heartbeatArn]));
    // The steps keep their item lists, reports and results in the runs bucket.
    for (const steps of [worker, heartbeat]) {
      steps.function.addEnvironment(ENV.runsBucket, runsBucket.bucketName);
      for (const statement of runsBucketStatements(runsBucket.bucketArn, RUNS_PREFIX)) {
        steps.role.addToPolicy(statement);
      }
    }
    worker.function.addEnvironment(
      ENV.mapConcurrencyCap,
      String(settings.workerReservedConcurrency - WORKER_STEP_HEADROOM),
    );
    heartbeat.function.addEnvironment(
      ENV.heartbeatMaxShards,
      String(settings.heartbeatReservedConcurrency - HEARTBEAT_STEP_HEADROOM),
    );
    heartbeat.function.addEnvironment(ENV.heartbeatHostCostMs, String(settings.heartbeatHostCostMs));
    heartbeat.function.addEnvironment(ENV.heartbeatPeriodMs, String(heartbeatPeriodMs));
    if (settings.heartbeatCallbackUrl) {
      heartbeat.function.addEnvironment(ENV.heartbeatCallbackUrl, settings.heartbeatCallbackUrl);
    }

    // A run whose execution ended without its last step (failed, timed out, aborted) gives back
    // its units of the concurrency pool here: Step Functions reports every standard execution's
    // end to EventBridge, and the function's `*-ended` step releases the run named. That delivery
    // is best effort, so the worker may also ask whether a fleet run holding units still runs
    // (lib/fleet/steps/reserve.ts): DescribeExecution on that machine's executions only, in a
    // policy of its own, since the machine already depends on the worker and its default policy.
    new iam.Policy(this, 'WorkerDescribesFleetRuns', {
      roles: [worker.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'DescribeFleetRuns',
          actions: ['states:DescribeExecution'],
          resources: [
            Stack.of(this).formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${fleet.stateMachineName}:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });
    const releaseOnEnd = (
      id: string,
      machine: sfn.IStateMachine,
      fn: lambda.IFunction,
      pool: string,
      step: string,
    ) =>
      new events.Rule(this, id, {
        description: `cloudiq-bootstrap: a run that ended without its last step gives back its units of ${pool}`,
        eventPattern: {
          source: ['aws.states'],
          detailType: ['Step Functions Execution Status Change'],
          detail: { stateMachineArn: [machine.stateMachineArn], status: [...RUN_ENDED_STATUSES] },
        },
        targets: [
          new eventTargets.LambdaFunction(fn, {
            event: events.RuleTargetInput.fromObject({
              step,
              operationId: events.EventField.fromPath('$.detail.name'),
              status: events.EventField.fromPath('$.detail.status'),
              execution: events.EventField.fromPath('$.detail.executionArn'),
            }),
            retryAttempts: 8,
          }),
        ],
      });
    releaseOnEnd('FleetRunEnded', fleet, worker.function, "the worker's concurrency", 'run-ended');
    releaseOnEnd(
      'HeartbeatEnded',
      this.machines.heartbeat,
      heartbeat.function,
      "the heartbeat function's concurrency",
      'heartbeat-ended',
    );

    new events.Rule(this, 'HeartbeatSchedule', {
      description: 'cloudiq-bootstrap fleet heartbeat (SPEC 7.2): starts the execution of each period',
      schedule: events.Schedule.expression(settings.heartbeatSchedule),
      // A repeated delivery starts nothing new: the execution is named after the period.
      targets: [new eventTargets.LambdaFunction(heartbeat.function, { retryAttempts: 2 })],
    });

    this.api = new BootstrapApi(this, 'HttpApi', {
      handler: api.function,
      consoleHandler: consolePage.function,
      authorizer: settings.authorizer,
      logRetention: retention,
    });

    const alarms: cloudwatch.Alarm[] = Object.values(this.functions).map((fn) => fn.errorsAlarm);
    // An execution that failed, timed out or was aborted is three metrics in AWS/States: one alarm
    // each, so that a fleet run at its 7 days or a heartbeat at its time limit is seen as a failure
    // is. A step failed for good (its retries spent: the fleet run's Aggregate, the operation's
    // Deliver, a heartbeat's report, a change's DeliverChange) fails its execution: no callback,
    // and ExecutionsFailed fires.
    const outcomes = [
      ['Failed', 'failed', (m: sfn.StateMachine, p: cloudwatch.MetricOptions) => m.metricFailed(p)],
      ['TimedOut', 'timed out', (m: sfn.StateMachine, p: cloudwatch.MetricOptions) => m.metricTimedOut(p)],
      ['Aborted', 'was aborted', (m: sfn.StateMachine, p: cloudwatch.MetricOptions) => m.metricAborted(p)],
    ] as const;
    for (const [name, machine] of [
      ['FleetRun', fleet],
      ['Operation', operation],
      ['Heartbeat', this.machines.heartbeat],
      ['ChangeCallback', changeCallback],
    ] as const) {
      for (const [outcome, what, metric] of outcomes) {
        alarms.push(
          metric(machine, { period: Duration.minutes(5) }).createAlarm(this, `${name}${outcome}Alarm`, {
            alarmDescription: `cloudiq-bootstrap: ${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name} execution ${what}`,
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
        );
      }
    }
    const unwell = settings.heartbeatAlarmHosts;
    if (unwell > 0) alarms.push(this.fleetHealthAlarm(heartbeatPeriodMs, unwell));
    if (settings.alarmTopicArn) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn);
      for (const alarm of alarms) alarm.addAlarmAction(new cwActions.SnsAction(topic));
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'InventorySource', { value: `s3://${inventory.bucket}/${inventory.key}` });
    new CfnOutput(this, 'SshKeySecretArn', { value: sshKey.secretArn });
    new CfnOutput(this, 'CallbackSecretArn', { value: callbackSecret.secretArn });
    new CfnOutput(this, 'BatchUpgradeFunctionName', { value: batchUpgrade.function.functionName });
    new CfnOutput(this, 'FleetStateMachineArn', { value: fleet.stateMachineArn });
    new CfnOutput(this, 'OperationStateMachineArn', { value: operation.stateMachineArn });
    new CfnOutput(this, 'HeartbeatStateMachineArn', { value: this.machines.heartbeat.stateMachineArn });
    new CfnOutput(this, 'ChangeCallbackStateMachineArn', { value: changeCallback.stateMachineArn });
  }

  /**
   * The fleet's health (SPEC 7.2): the hosts the heartbeat found `down` or `unreachable`, as its
   * report step publishes them once a period, stamped with the period's start
   * (lib/fleet/steps/heartbeat.ts publishHeartbeatCounts; HEARTBEAT_METRICS, in EMF through
   * Powertools: the functions' namespace, the `service` dimension), added up over one heartbeat
   * period; at `hosts` or more the alarm fires. A run started by hand publishes under another
   * dimension and is not added. A period with no heartbeat is no breach.
   */
  private fleetHealthAlarm(periodMs: number, hosts: number): cloudwatch.Alarm {
    const period = Duration.seconds(heartbeatAlarmPeriodSeconds(periodMs));
    const count = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: cloudwatch.Stats.SUM,
        period,
      });
    const unwell = new cloudwatch.MathExpression({
      expression: 'FILL(down, 0) + FILL(unreachable, 0)',
      usingMetrics: {
        down: count(HEARTBEAT_METRICS.down),
        unreachable: count(HEARTBEAT_METRICS.unreachable),
      },
      label: 'hosts down or unreachable',
      period,
    });
    return unwell.createAlarm(this, 'FleetHealthAlarm', {
      alarmDescription: `cloudiq-bootstrap: the heartbeat found ${hosts} or more hosts down or unreachable`,
      threshold: hosts,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
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

/**
 * The period of a heartbeat schedule in milliseconds (infra/settings.ts); throws for a schedule
 * with no fixed period, which readSettings refuses already.
 */
export function schedulePeriodMs(schedule: string): number {
  const period = periodOf(schedule);
  if (period === undefined) throw new Error(`heartbeat schedule ${schedule} has no fixed period`);
  return period;
}

/**
 * A heartbeat shard's budget for this period: what the functions compute from HEARTBEAT_PERIOD_MS
 * (lib/fleet/heartbeat-shards.ts: the period less a fifth, at most a minute, and never above 14
 * minutes). Only the period decides it; the other inputs are placeholders.
 */
export function heartbeatBudgetMs(periodMs: number): number {
  return planHeartbeatShards({
    total: 0,
    perHostMs: 1,
    hostTimeoutMs: 0,
    deadShare: 0,
    periodMs,
    hostConcurrency: 1,
    maxShards: 1,
  }).budgetMs;
}

/**
 * The heartbeat function's timeout: a shard's budget and a margin (at least 5 minutes, for the plan
 * and report steps), within Lambda's 15 minutes. The budget is capped below that by the shard plan,
 * so this always leaves the margin; it throws rather than deploy a shard that could not record.
 */
export function heartbeatTimeoutFor(periodMs: number): Duration {
  const budgetMs = heartbeatBudgetMs(periodMs);
  const timeoutMs = Math.max(HEARTBEAT_MIN_TIMEOUT_MS, budgetMs + HEARTBEAT_SHARD_MARGIN_MS);
  if (timeoutMs > LAMBDA_MAX_MS) {
    throw new Error(
      `a heartbeat shard budget of ${budgetMs} ms leaves no ${HEARTBEAT_SHARD_MARGIN_MS} ms margin in Lambda's ${LAMBDA_MAX_MS} ms`,
    );
  }
  return Duration.seconds(Math.ceil(timeoutMs / 1000));
}

/**
 * The fleet-health alarm's period: the heartbeat's, in whole minutes (CloudWatch's periods above a
 * minute), at most a day (the longest an alarm evaluates).
 */
export function heartbeatAlarmPeriodSeconds(periodMs: number): number {
  return Math.min(24 * 60, Math.max(1, Math.round(periodMs / 60_000))) * 60;
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, _dash, letter: string) => letter.toUpperCase());
}
