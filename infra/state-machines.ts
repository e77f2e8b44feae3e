/**
 * The state machines that carry every run that may outlast one invocation (SPEC 7.2, 7.3 v2),
 * each execution named by its operation id (starting it twice starts it once):
 *
 *   fleet run:  Plan → Reserve (one unit of the worker's concurrency pool, shared by all runs) →
 *               canary loop (Choice/Task, one target a step) → Reserve (the Map's width) →
 *               Distributed Map (one child a target; the gate in the child's step; a step failed
 *               for good is counted by TargetGaveUp; children never fail the Map) → Aggregate
 *               (gives the units back); an ungranted Reserve waits and asks again
 *   operation:  Wait 10 s → Poll (operation.get) → Wait as the poll says (10 s, growing to 5 min)
 *               → Poll … until the journal ends or a day has passed → Deliver
 *   heartbeat:  Plan (shards, and their units of the heartbeat function's concurrency pool; none
 *               granted: wait and plan again) → Distributed Map (one child a shard, side by side,
 *               a failed shard run again until its deadline) → Report (gives the units back)
 *   change callback: Deliver (a quick change's result, which the API function kept in the runs
 *               bucket, POSTed once; lib/fleet/steps/change.ts)
 *
 * The steps are lib/fleet/steps over the worker and heartbeat functions. Lambda's throttling
 * (the reserved concurrency reached) and transient errors are retried with backoff in the
 * definition, so a throttled target is never a failed one; and every step is run again when it
 * failed on its own (`States.TaskFailed`: the run store or the runs bucket did not answer), each
 * being idempotent (see where each is made). A step failed for good fails the execution, which
 * the stack's alarms watch (infra/stack.ts), unless it is caught (the canary, a target).
 */
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { FIRST_WAIT_SECONDS } from '../lib/fleet/steps/operation.ts';
import { FLEET_RUN_TIMEOUT_MS } from '../lib/fleet/steps/reserve.ts';
import { present } from '../lib/optional.ts';

/** Lambda's throttling and transient errors: retried on every step, never a target's failure. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
];

/**
 * How long the operation state machine waits before its first poll of the journal; later waits
 * are the poll's answer (`pollWaitSeconds`, lib/fleet/steps/operation.ts), so that a day of
 * following stays well inside an execution's 25,000 history events.
 */
export const POLL_SECONDS = FIRST_WAIT_SECONDS;

/**
 * The operation state machine's time limit: a day of following (`FOLLOW_MS`), then the last
 * poll and the deliver step, their retries, with a day to spare. It never ends a run the poll
 * step would follow on: the poll ends the following first, so the result is still delivered.
 */
export const OPERATION_TIMEOUT = Duration.days(2);

/**
 * The change-callback state machine's time limit: its one step, a delivery of SPEC 5's 5 attempts
 * (a few minutes at most) with the step's own retries (`LAST_STEP_ATTEMPTS`, about 3 minutes),
 * and the delivery ledger's wait for a sender that died mid-delivery (its 15-minute lease).
 */
export const CHANGE_CALLBACK_TIMEOUT = Duration.hours(1);

export interface RunStateMachinesProps {
  worker: lambda.IFunction;
  heartbeat: lambda.IFunction;
  runsBucket: s3.Bucket;
  logRetention: logs.RetentionDays;
  /**
   * The heartbeat execution's time limit: its plan, shards and report in turn, each up to the
   * heartbeat function's timeout (infra/stack.ts derives both from the schedule). Default 15 minutes.
   */
  heartbeatTimeout?: Duration;
}

/** The four state machines of the stack. */
export class RunStateMachines extends Construct {
  readonly fleet: sfn.StateMachine;
  readonly operation: sfn.StateMachine;
  readonly heartbeat: sfn.StateMachine;
  /** A quick change's callback (`PUT …/mode`, `PATCH …/config`), started by the API function. */
  readonly changeCallback: sfn.StateMachine;
  /**
   * The heartbeat machine's ARN built from its fixed name, not a reference to it: the heartbeat
   * function both starts it and runs its steps, and a reference each way would be a cycle.
   */
  readonly heartbeatArn: string;

  constructor(scope: Construct, id: string, props: RunStateMachinesProps) {
    super(scope, id);
    // aws-cdk-lib's Bucket declares `isWebsite` as `boolean | undefined` where IBucket has
    // `isWebsite?: boolean`, which this repository's exactOptionalPropertyTypes tells apart.
    const bucket = props.runsBucket as s3.IBucket;
    const heartbeatName = `${Stack.of(this).stackName}-heartbeat`;
    this.heartbeatArn = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${heartbeatName}`;
    const machine = (
      name: string,
      comment: string,
      definition: sfn.IChainable,
      timeout: Duration,
      stateMachineName?: string,
    ) => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      return new sfn.StateMachine(this, name, {
        comment,
        definitionBody: sfn.DefinitionBody.fromChainable(definition),
        stateMachineType: sfn.StateMachineType.STANDARD,
        timeout,
        ...present({ stateMachineName }),
        logs: { destination: logGroup, level: sfn.LogLevel.ERROR, includeExecutionData: false },
      });
    };
    this.fleet = machine(
      'FleetRun',
      'cloudiq-bootstrap: a fleet run (SPEC 4, 7.3), named by its operation id',
      this.fleetDefinition(props.worker, bucket),
      // Also the lease of the run's units of the concurrency pool: none is held past it.
      Duration.millis(FLEET_RUN_TIMEOUT_MS),
    );
    this.operation = machine(
      'Operation',
      "cloudiq-bootstrap: one server's long operation followed to its end (SPEC 7.1), named by its operation id",
      this.operationDefinition(props.worker),
      OPERATION_TIMEOUT,
    );
    this.heartbeat = machine(
      'Heartbeat',
      'cloudiq-bootstrap: the fleet heartbeat of one period (SPEC 7.2), named after the period',
      this.heartbeatDefinition(props.heartbeat, bucket),
      props.heartbeatTimeout ?? Duration.minutes(15),
      heartbeatName,
    );
    this.changeCallback = machine(
      'ChangeCallback',
      "cloudiq-bootstrap: a quick change's callback (SPEC 5), named by its operation id",
      this.changeCallbackDefinition(props.worker),
      CHANGE_CALLBACK_TIMEOUT,
    );
  }

  /**
   * A step of the execution itself: Lambda's transient errors retried, then its own failure
   * (`States.TaskFailed`) `failureAttempts` times. Every such step answers the same when run again.
   */
  private step(
    id: string,
    fn: lambda.IFunction,
    payload: sfn.TaskInput,
    resultPath: string | undefined,
    failureAttempts?: number,
  ) {
    const task = new tasks.LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payload,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      ...present({ resultPath }),
    });
    retryTransient(task);
    retryStepFailure(task, failureAttempts);
    return task;
  }

  /**
   * A Distributed Map over the JSON item list at `keyPath` in the runs bucket, as wide as the
   * number at `concurrencyPath` says. Children report a failure in their output; a child that still fails (its step failed for
   * good) must not fail the Map, which would abort the running children.
   */
  private childMap(
    label: string,
    bucket: s3.IBucket,
    keyPath: string,
    concurrencyPath: string,
    options: Pick<sfn.DistributedMapProps, 'comment' | 'itemSelector' | 'resultPath' | 'resultWriterV2'>,
  ): sfn.DistributedMap {
    return new sfn.DistributedMap(this, label, {
      ...options,
      label,
      maxConcurrencyPath: concurrencyPath,
      toleratedFailurePercentage: 100,
      itemReader: new sfn.S3JsonItemReader({ bucket, key: sfn.JsonPath.stringAt(keyPath) }),
      mapExecutionType: sfn.StateMachineType.STANDARD,
    });
  }

  /** A Map child: one invocation of `fn` with the item, throttling retried up to `maxAttempts`. */
  private childTask(id: string, fn: lambda.IFunction, maxAttempts?: number): tasks.LambdaInvoke {
    const task = new tasks.LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
    });
    retryTransient(task, maxAttempts);
    return task;
  }

  private fleetDefinition(worker: lambda.IFunction, bucket: s3.IBucket): sfn.IChainable {
    const run = (step: string) => sfn.TaskInput.fromObject({ step, run: sfn.JsonPath.entirePayload });
    // The plan answers the same plan when run again: the record is kept when it exists, and the
    // item lists are written again whole before anything reads them.
    const plan = this.step('Plan', worker, run('plan'), '$.plan');
    // The canary step is idempotent as a target's is (a kept report answers a repeat, and its
    // state is its input): one that failed on its own runs again. One that fails for good still
    // ends in the aggregate step, so the run reports and calls back rather than failing silent.
    const canary = this.step('Canary', worker, run('canary'), '$.plan.canary');
    // The run's units of the worker's concurrency pool (lib/fleet/steps/reserve.ts), shared by
    // every fleet run at once: one for the canary stage, then the Map's MaxConcurrency. Asked
    // again, it answers as the pool stands; ungranted, the run waits and asks again.
    const reserve = this.step(
      'Reserve',
      worker,
      sfn.TaskInput.fromObject({
        step: 'reserve',
        run: sfn.JsonPath.entirePayload,
        // Kept with the units: a run that finds the pool short asks whether this one still runs.
        execution: sfn.JsonPath.executionId,
      }),
      '$.plan.slots',
    );
    const waitForSlots = new sfn.Wait(this, 'WaitForSlots', {
      time: sfn.WaitTime.secondsPath('$.plan.slots.wait'),
    });
    waitForSlots.next(reserve);
    // The aggregate step reads only what the run kept (reports, the Map's results), writes the
    // result again whole, and calls back through the delivery ledger: run again, it POSTs at most
    // once. It is the run's last chance to call back, so it is tried longer; failed for good, the
    // execution fails (the FleetRun alarm) and the record stays `running`. It gives the run's
    // units back first; an execution that ends without it gives them back through the stack's
    // FleetRunEnded rule (infra/stack.ts).
    const aggregate = this.step('Aggregate', worker, run('aggregate'), undefined, LAST_STEP_ATTEMPTS);
    aggregate.next(new sfn.Succeed(this, 'Done'));
    canary.addCatch(aggregate, { errors: ['States.ALL'], resultPath: '$.canaryError' });
    // The pool unreadable for good: the run ends in the aggregate step, its targets not started.
    reserve.addCatch(aggregate, { errors: ['States.ALL'], resultPath: '$.reserveError' });

    const map = this.childMap('Fleet', bucket, '$.plan.keys.fleet', '$.plan.slots.granted', {
      comment: 'One child a target: the maxErrors gate, then the target; children never fail the Map.',
      itemSelector: {
        step: 'target',
        operationId: sfn.JsonPath.stringAt('$.operationId'),
        request: sfn.JsonPath.objectAt('$.request'),
        maxErrors: sfn.JsonPath.numberAt('$.plan.rate.maxErrors'),
        healthGate: sfn.JsonPath.objectAt('$.plan.healthGate'),
        item: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
      resultWriterV2: new sfn.ResultWriterV2({
        bucket,
        prefix: sfn.JsonPath.stringAt('$.plan.keys.results'),
      }),
      resultPath: '$.fleetRun',
    });
    const target = this.childTask('Target', worker, 20);
    // The target step is idempotent (a kept report answers a repeat; the host answers an operation
    // id it has seen with its journal), so a step that failed on its own — the run store or the
    // runs bucket did not answer — runs again before its target is given up as failed.
    retryStepFailure(target);
    // One that fails for good is still a failure of the run: the give-up step counts it toward
    // maxErrors before later targets pass the gate (and answers a report the step kept, if any).
    const gaveUp = new tasks.LambdaInvoke(this, 'TargetGaveUp', {
      lambdaFunction: worker,
      payload: sfn.TaskInput.fromObject({
        step: 'target-gave-up',
        operationId: sfn.JsonPath.stringAt('$.operationId'),
        item: sfn.JsonPath.objectAt('$.item'),
        stepFailure: sfn.JsonPath.objectAt('$.stepFailure'),
      }),
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
    });
    retryTransient(gaveUp);
    retryStepFailure(gaveUp);
    target.addCatch(gaveUp, { errors: ['States.ALL'], resultPath: '$.stepFailure' });
    map.itemProcessor(target);
    // The Map's own failure (its items or results unreadable): the aggregate step still runs.
    map.addCatch(aggregate, { errors: ['States.ALL'], resultPath: '$.fleetError' });
    map.next(aggregate);

    const fleetLeft = sfn.Condition.numberGreaterThan('$.plan.canary.fleetCount', 0);
    const canaryLeft = sfn.Condition.booleanEquals('$.plan.canary.done', false);
    const holding = (stage: string) => sfn.Condition.stringEquals('$.plan.slots.stage', stage);
    // Where the run goes next: its units for the stage first, then the canaries one by one, then
    // the Map; the aggregate step once nothing is left to start.
    const next = new sfn.Choice(this, 'NextStage')
      .when(sfn.Condition.and(canaryLeft, holding('none')), reserve)
      .when(canaryLeft, canary)
      .when(sfn.Condition.and(fleetLeft, holding('fleet')), map)
      .when(fleetLeft, reserve)
      .otherwise(aggregate);
    reserve.next(
      new sfn.Choice(this, 'SlotsGranted')
        .when(sfn.Condition.numberGreaterThan('$.plan.slots.granted', 0), next)
        .otherwise(waitForSlots),
    );
    canary.next(next);
    return plan.next(next);
  }

  private operationDefinition(worker: lambda.IFunction): sfn.IChainable {
    const run = (step: string) => sfn.TaskInput.fromObject({ step, run: sfn.JsonPath.entirePayload });
    const wait = new sfn.Wait(this, 'WaitForOperation', {
      time: sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)),
    });
    // A poll is a read of the journal: run again, it answers the same (its count from its input).
    const poll = this.step('Poll', worker, run('operation-poll'), '$.poll');
    // The wait the poll answers: 10 s at first, growing to 5 minutes, so a day of following costs
    // a few thousand history events, not the 25,000 an execution may have.
    const waitAgain = new sfn.Wait(this, 'WaitToPollAgain', {
      time: sfn.WaitTime.secondsPath('$.poll.wait'),
    });
    // Deliver reads the journal again and calls back through the delivery ledger (keyed by the
    // operation and server): run again, it POSTs at most once. Failed for good, the execution
    // fails (the Operation alarm).
    const deliver = this.step('Deliver', worker, run('operation-deliver'), '$.delivered', LAST_STEP_ATTEMPTS);
    deliver.next(new sfn.Succeed(this, 'Delivered'));
    const ended = new sfn.Choice(this, 'OperationEnded')
      .when(sfn.Condition.booleanEquals('$.poll.done', true), deliver)
      .otherwise(waitAgain);
    waitAgain.next(poll);
    return wait.next(poll).next(ended);
  }

  private changeCallbackDefinition(worker: lambda.IFunction): sfn.IChainable {
    // The one step reads the result the API function kept and calls back through the delivery
    // ledger (keyed by the change's id and server): run again, it POSTs at most once. Failed for
    // good, the execution fails (the ChangeCallback alarm).
    const deliver = this.step(
      'DeliverChange',
      worker,
      sfn.TaskInput.fromObject({ step: 'change-deliver', run: sfn.JsonPath.entirePayload }),
      '$.delivered',
      LAST_STEP_ATTEMPTS,
    );
    return deliver.next(new sfn.Succeed(this, 'ChangeDelivered'));
  }

  private heartbeatDefinition(heartbeat: lambda.IFunction, bucket: s3.IBucket): sfn.IChainable {
    const run = (step: string) => sfn.TaskInput.fromObject({ step, run: sfn.JsonPath.entirePayload });
    // The plan writes the same shards again for the period (their start from the period's number);
    // the report reads the shards' records, writes the report again and POSTs it through the
    // delivery ledger, once. Both may run again; failed for good, the Heartbeat alarm fires.
    const plan = this.step('HeartbeatPlan', heartbeat, run('heartbeat-plan'), '$.plan');
    const report = this.step('HeartbeatReport', heartbeat, run('heartbeat-report'), undefined);
    const shards = this.childMap('Shards', bucket, '$.plan.key', '$.plan.granted', {
      comment:
        'Every shard at once: each reads its hosts within its budget and logs them; the report publishes the counts.',
      itemSelector: { step: 'heartbeat-shard', item: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
      resultPath: sfn.JsonPath.DISCARD,
    });
    const shard = this.childTask('Shard', heartbeat);
    // A shard whose invocation failed on its own (it crashed, ran out of memory or time) runs
    // again rather than leaving its hosts `skipped` for the period: one that kept its record
    // answers from it, one that did not reads only until the deadline the plan gave it
    // (`deadlineAt`, lib/fleet/steps/heartbeat.ts), so a retry never runs past the period. Each
    // child is an execution of its own: the retries cost its history, not the parent's.
    shard.addRetry({
      errors: SHARD_FAILURE_ERRORS,
      interval: Duration.seconds(SHARD_RETRY_SECONDS),
      backoffRate: 2,
      maxAttempts: SHARD_FAILURE_ATTEMPTS,
      jitterStrategy: sfn.JitterType.FULL,
    });
    shards.itemProcessor(shard);
    shards.addCatch(report, { errors: ['States.ALL'], resultPath: '$.shardsError' });
    shards.next(report).next(new sfn.Succeed(this, 'Reported'));
    // The plan answers the units of the function's concurrency its shards were granted (a run by
    // hand beside the schedule's shares them): none, and the execution waits and plans again.
    const waitForShards = new sfn.Wait(this, 'WaitForShards', {
      time: sfn.WaitTime.secondsPath('$.plan.wait'),
    });
    waitForShards.next(plan);
    return plan.next(
      new sfn.Choice(this, 'ShardsGranted')
        .when(sfn.Condition.numberGreaterThan('$.plan.granted', 0), shards)
        .otherwise(waitForShards),
    );
  }
}

/**
 * A heartbeat shard's own failures, run again: any error its function raised or Lambda reported
 * for it (`States.TaskFailed` matches all of those but `States.Timeout`), named as well for the
 * ones a crash, an out-of-memory or a timeout report.
 */
export const SHARD_FAILURE_ERRORS = ['States.TaskFailed', 'States.Timeout', 'Lambda.Unknown'];

/** How often a failed shard runs again, and the first wait (short: the period's time is running). */
export const SHARD_FAILURE_ATTEMPTS = 2;
export const SHARD_RETRY_SECONDS = 2;

/**
 * Retries of the steps after which nothing else calls back (Aggregate, Deliver, DeliverChange): up
 * to about three minutes of tries with the backoff below (1 s doubling, at most a minute), not a
 * few seconds.
 */
export const LAST_STEP_ATTEMPTS = 8;

/**
 * A step that failed on its own (the run store or the runs bucket did not answer): run again.
 * `States.TaskFailed` matches any error a task raises but `States.Timeout`; Lambda's own transient
 * errors meet `retryTransient`'s rule first, which is added before this one.
 */
function retryStepFailure(task: tasks.LambdaInvoke, maxAttempts = 3): void {
  task.addRetry({
    errors: ['States.TaskFailed'],
    interval: Duration.seconds(1),
    backoffRate: 2,
    maxDelay: Duration.minutes(1),
    maxAttempts,
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/** Throttling and transient errors, retried with exponential backoff and full jitter. */
function retryTransient(task: tasks.LambdaInvoke, maxAttempts = 10): void {
  task.addRetry({
    errors: LAMBDA_TRANSIENT_ERRORS,
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxDelay: Duration.minutes(1),
    maxAttempts,
    jitterStrategy: sfn.JitterType.FULL,
  });
}
