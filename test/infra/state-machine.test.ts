import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type BatchExecutionInput,
  type BatchItem,
  type BatchUpgradeRequest,
  planBatch,
  type WorkerBatchEvent,
} from '../../infra/batch-plan.ts';
import { LAMBDA_TRANSIENT_ERRORS } from '../../infra/state-machine.ts';
import { resolveRateControl } from '../../lib/fleet/rate.ts';
import { assemblyDir, flatten, type Synthesized, statementsOfRole, synth } from './synth.ts';

type State = Record<string, unknown> & { Type: string };
interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

/** The definition as JSON, CloudFormation tokens written `${LogicalId.Attr}`. */
function definitionOf(s: Synthesized): Definition {
  const props = s.json.Resources[s.id(s.stack.batch.stateMachine)]?.Properties;
  return JSON.parse(flatten(props?.['DefinitionString']) as string) as Definition;
}

/** The JSONPath subset the definition uses: `$`, `$.a.b`, and the `$$.Map.Item.Value` context path. */
function readPath(path: string, state: unknown, item?: unknown): unknown {
  if (path === '$$.Map.Item.Value') return item;
  assert.match(path, /^\$(\.[A-Za-z]+)*$/, `unsupported path ${path}`);
  let value: unknown = state;
  for (const key of path.split('.').slice(1)) {
    assert.ok(value && typeof value === 'object' && key in value, `${path}: no ${key} in the state`);
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Applies a Parameters / ItemSelector template to a state, as Step Functions does. */
function applyTemplate(
  template: Record<string, unknown>,
  state: unknown,
  item?: unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) out[key.slice(0, -2)] = readPath(value as string, state, item);
    else if (value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = applyTemplate(value as Record<string, unknown>, state, item);
    } else out[key] = value;
  }
  return out;
}

describe('the batch-upgrade state machine', () => {
  const out = assemblyDir();
  let s: Synthesized;
  let definition: Definition;
  let worker: string;
  let runsBucket: string;
  before(() => {
    s = synth(out.dir);
    definition = definitionOf(s);
    worker = `{${s.id(s.stack.functions.worker.function)}.Arn}`;
    runsBucket = `{${s.id(s.stack.node.findChild('RunsBucket'))}}`;
  });
  after(() => out.remove());

  const state = (name: string): State => {
    const found = definition.States[name];
    assert.ok(found, `no state ${name}`);
    return found;
  };

  it('is a standard workflow with a time limit and error logs of its own', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: {
        Level: 'ERROR',
        IncludeExecutionData: false,
        Destinations: [
          {
            CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [s.id(s.stack.batch.logGroup), 'Arn'] } },
          },
        ],
      },
    });
    assert.equal((definition as unknown as { TimeoutSeconds: number }).TimeoutSeconds, 7 * 24 * 3600);
  });

  it('plans, runs the canary stage, then the fleet stage, and always ends in one aggregate step', () => {
    assert.equal(definition.StartAt, 'Plan');
    assert.equal(state('Plan').Next, 'HasCanaries');
    assert.deepEqual(state('HasCanaries').Choices, [
      { Variable: '$.plan.counts.canary', NumericGreaterThan: 0, Next: 'Canary' },
    ]);
    assert.equal(state('HasCanaries').Default, 'HasFleetTargets');
    assert.equal(state('Canary').Next, 'HasFleetTargets');
    assert.deepEqual(state('HasFleetTargets').Choices, [
      { Variable: '$.plan.counts.fleet', NumericGreaterThan: 0, Next: 'Fleet' },
    ]);
    assert.equal(state('HasFleetTargets').Default, 'Aggregate');
    assert.equal(state('Fleet').Next, 'Aggregate');
    assert.equal(state('Aggregate').Next, 'Done');
    assert.equal(state('Done').Type, 'Succeed');
    for (const [name, reason] of [
      ['CanaryFailed', 'CANARY_FAILED'],
      ['MaxErrorsExceeded', 'MAX_ERRORS_EXCEEDED'],
      ['Aborted', 'ABORTED'],
    ] as const) {
      assert.deepEqual(state(name), {
        Type: 'Pass',
        Result: reason,
        ResultPath: '$.stopReason',
        Next: 'Aggregate',
      });
    }
  });

  it('runs the canary stage one target at a time and stops the run at its first failure', () => {
    const canary = state('Canary');
    assert.equal(canary.Type, 'Map');
    assert.equal(canary.MaxConcurrency, 1);
    // No tolerated failures: CDK leaves out a zero, and Step Functions' default is zero — the Map
    // Run fails when any child execution fails (maprun-fail-threshold in the Step Functions guide).
    assert.equal(canary.ToleratedFailureCount, undefined);
    assert.equal(canary.ToleratedFailurePercentage, undefined);
    assert.equal(canary.ToleratedFailureCountPath, undefined);
    assert.equal(canary.ToleratedFailurePercentagePath, undefined);
    assert.equal(canary.MaxConcurrencyPath, undefined);
    assert.deepEqual(canary.ItemReader, {
      Resource: 'arn:{AWS::Partition}:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { Bucket: runsBucket, 'Key.$': '$.plan.runs.canaryKey' },
    });
    assert.deepEqual(canary.ResultWriter, {
      Resource: 'arn:{AWS::Partition}:states:::s3:putObject',
      Parameters: { Bucket: runsBucket, 'Prefix.$': '$.plan.runs.canaryResultsPrefix' },
    });
    assert.equal(canary.ResultPath, '$.canaryRun');
    assert.deepEqual(canary.Catch, [
      {
        ErrorEquals: ['States.ExceedToleratedFailureThreshold'],
        ResultPath: '$.error',
        Next: 'CanaryFailed',
      },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Aborted' },
    ]);
  });

  it('runs the fleet stage as a Distributed Map whose concurrency and tolerated failures come from the plan', () => {
    const fleet = state('Fleet');
    assert.equal(fleet.Type, 'Map');
    assert.equal(fleet.MaxConcurrencyPath, '$.plan.rate.maxConcurrency');
    assert.equal(fleet.ToleratedFailureCountPath, '$.plan.rate.maxErrors');
    assert.equal(fleet.MaxConcurrency, undefined);
    assert.equal(fleet.ToleratedFailureCount, undefined);
    assert.equal(fleet.ToleratedFailurePercentage, undefined);
    assert.equal(fleet.Label, 'Fleet');
    assert.deepEqual((fleet.ItemReader as { Parameters: unknown }).Parameters, {
      Bucket: runsBucket,
      'Key.$': '$.plan.runs.fleetKey',
    });
    assert.deepEqual((fleet.ResultWriter as { Parameters: unknown }).Parameters, {
      Bucket: runsBucket,
      'Prefix.$': '$.plan.runs.fleetResultsPrefix',
    });
    assert.deepEqual(fleet.Catch, [
      {
        ErrorEquals: ['States.ExceedToleratedFailureThreshold'],
        ResultPath: '$.error',
        Next: 'MaxErrorsExceeded',
      },
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Aborted' },
    ]);
  });

  it('upgrades one target per item through the worker, looping on hand-over and failing the item on a failed report', () => {
    for (const stage of ['Canary', 'Fleet']) {
      const processor = state(stage).ItemProcessor as Definition & { ProcessorConfig: unknown };
      assert.deepEqual(processor.ProcessorConfig, { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      assert.equal(processor.StartAt, `${stage}Target`);
      const target = processor.States[`${stage}Target`]!;
      assert.equal(target.Resource, 'arn:{AWS::Partition}:states:::lambda:invoke');
      assert.deepEqual(target.Parameters, { FunctionName: worker, 'Payload.$': '$' });
      assert.deepEqual(target.ResultSelector, { 'report.$': '$.Payload' });
      assert.deepEqual(target.Retry, [
        {
          ErrorEquals: LAMBDA_TRANSIENT_ERRORS,
          IntervalSeconds: 2,
          MaxAttempts: 10,
          MaxDelaySeconds: 60,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        },
      ]);
      assert.equal(target.Next, `${stage}TargetOutcome`);
      assert.deepEqual(processor.States[`${stage}TargetOutcome`], {
        Type: 'Choice',
        Choices: [
          { Variable: '$.outcome.report.status', StringEquals: 'running', Next: `${stage}HandOver` },
          { Variable: '$.outcome.report.status', StringEquals: 'failed', Next: `${stage}TargetFailed` },
        ],
        Default: `${stage}TargetFinished`,
      });
      assert.equal(processor.States[`${stage}HandOver`]?.Next, `${stage}Target`);
      assert.deepEqual(processor.States[`${stage}TargetFailed`], {
        Type: 'Fail',
        Error: 'TargetFailed',
        CausePath: 'States.JsonToString($.outcome.report)',
      });
      assert.deepEqual(processor.States[`${stage}TargetFinished`], {
        Type: 'Succeed',
        OutputPath: '$.outcome.report',
      });
    }
  });

  it('reads, at every path, what the plan of lib/fleet/rate.ts puts there', () => {
    const targets = Array.from({ length: 1000 }, (_, i) => `web-${i + 1}`);
    const requests: BatchUpgradeRequest[] = [
      { select: 'all', product: 'deepfiler', version: '3.2.1' },
      {
        select: 'all',
        product: 'deepfiler',
        version: '3.2.1',
        maxConcurrency: '25%',
        maxErrors: '10%',
        canary: 3,
      },
      {
        select: 'all',
        product: 'deepfiler',
        version: '3.2.1',
        maxConcurrency: 40,
        maxErrors: 0,
        canary: '1%',
      },
    ];
    for (const request of requests) {
      const input: BatchExecutionInput = {
        operationId: 'op_01',
        request,
        startedAt: '2025-01-01T00:00:00.000Z',
      };
      // Plan: the worker's payload, then its answer placed at ResultPath $.plan.
      const planPayload = applyTemplate(state('Plan').Parameters as Record<string, unknown>, input);
      assert.deepEqual(planPayload, { mode: 'plan', ...input } satisfies WorkerBatchEvent);
      const { plan, objects } = planBatch({ ...input, targets, bucket: 'runs-bucket' });
      const afterPlan = { ...input, plan };

      const rate = resolveRateControl(request, targets.length);
      assert.equal(readPath(state('Fleet').MaxConcurrencyPath as string, afterPlan), rate.maxConcurrency);
      assert.equal(readPath(state('Fleet').ToleratedFailureCountPath as string, afterPlan), rate.maxErrors);
      assert.equal(readPath('$.plan.counts.canary', afterPlan), rate.canary);
      assert.equal(readPath('$.plan.counts.fleet', afterPlan), targets.length - rate.canary);

      for (const stage of ['Canary', 'Fleet'] as const) {
        const map = state(stage);
        const key = readPath(
          (map.ItemReader as { Parameters: Record<string, string> }).Parameters['Key.$']!,
          afterPlan,
        );
        const items = JSON.parse(objects.find((object) => object.key === key)!.body) as BatchItem[];
        assert.equal(items.length, stage === 'Canary' ? rate.canary : targets.length - rate.canary);
        const prefix = readPath(
          (map.ResultWriter as { Parameters: Record<string, string> }).Parameters['Prefix.$']!,
          afterPlan,
        );
        assert.match(String(prefix), /^runs\/op_01\//);
        // Each item's state is the worker's payload as it is, for the first call and after a hand-over.
        const first = applyTemplate(map.ItemSelector as Record<string, unknown>, afterPlan, items[0]);
        assert.deepEqual(first, {
          mode: 'target',
          operationId: 'op_01',
          request,
          healthGate: true,
          phase: stage === 'Canary' ? 'canary' : 'fleet',
          item: items[0]!,
        } satisfies WorkerBatchEvent);
        const processor = map.ItemProcessor as Definition;
        const running = { ...first, outcome: { report: { status: 'running', continuation: { step: 2 } } } };
        const next = applyTemplate(
          processor.States[`${stage}HandOver`]!.Parameters as Record<string, unknown>,
          running,
        );
        assert.deepEqual(next, { ...first, continuation: { step: 2 } });
      }
    }
  });

  it('aggregates with the whole run state: input, plan, Map results and stop reason', () => {
    const aggregate = state('Aggregate');
    assert.equal(aggregate.Resource, worker);
    assert.deepEqual(aggregate.Parameters, { mode: 'aggregate', 'run.$': '$' });
    assert.deepEqual(state('Plan').Resource, worker);
    assert.equal(state('Plan').ResultPath, '$.plan');
    for (const name of ['Plan', 'Aggregate']) {
      assert.deepEqual(
        (state(name).Retry as { ErrorEquals: string[] }[])[0]?.ErrorEquals,
        LAMBDA_TRANSIENT_ERRORS,
      );
    }
  });

  it('its role invokes only the worker, reaches only the runs bucket, and runs only its own child executions', () => {
    const sm = s.stack.batch.stateMachine;
    const smName = `{${s.id(sm)}}`;
    const statements = statementsOfRole(s.json, s.id(sm.role)).map(flatten);
    const executions = (suffix: string) =>
      `arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:execution:{Select(6, Split(':', ${smName}))}${suffix}`;
    assert.deepEqual(statements, [
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: [worker, `${worker}:*`] },
      {
        Action: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        Effect: 'Allow',
        Resource: `arn:{AWS::Partition}:s3:::${runsBucket}/*`,
      },
      { Action: 's3:GetObject', Effect: 'Allow', Resource: `arn:{AWS::Partition}:s3:::${runsBucket}/*` },
      {
        Action: [
          'logs:CreateLogDelivery',
          'logs:GetLogDelivery',
          'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies',
          'logs:DescribeLogGroups',
        ],
        Effect: 'Allow',
        Resource: '*',
      },
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: smName },
      {
        Action: ['states:DescribeExecution', 'states:StopExecution'],
        Effect: 'Allow',
        Resource: executions(':*'),
      },
      {
        Action: 'states:RedriveExecution',
        Effect: 'Allow',
        Resource: [executions('/Canary:*'), executions('/Fleet:*')],
      },
    ]);
  });
});
