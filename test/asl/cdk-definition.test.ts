import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  functionArn,
  logicalIdOf,
  NotImplementedError,
  resolveDefinition,
  routeByLogicalId,
  SimulatedStepFunctions,
  validateDefinition,
} from '../support/asl/index.ts';
import { readPath } from '../support/asl/json-path.ts';
import { memoryS3 } from './run.ts';

function synthesize() {
  // Without this flag (infra/stack.ts sets it too) CDK renders no ResultWriter for ResultWriterV2.
  const app = new App({ context: { '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true } });
  const stack = new Stack(app, 'AslTest');
  const code = lambda.Code.fromInline('exports.handler = async () => ({})');
  const plan = new lambda.Function(stack, 'Plan', {
    runtime: lambda.Runtime.NODEJS_20_X,
    handler: 'index.handler',
    code,
  });
  const target = new lambda.Function(stack, 'Target', {
    runtime: lambda.Runtime.NODEJS_20_X,
    handler: 'index.handler',
    code,
  });
  // Bucket's `isWebsite: boolean | undefined` vs IBucket's optional under exactOptionalPropertyTypes.
  const bucket = new s3.Bucket(stack, 'Work') as s3.IBucket;
  const map = new sfn.DistributedMap(stack, 'Fleet', {
    itemReader: new sfn.S3JsonItemReader({ bucket, key: sfn.JsonPath.stringAt('$.plan.key') }),
    itemSelector: { 'target.$': '$$.Map.Item.Value', 'operationId.$': '$.plan.operationId' },
    maxConcurrency: 50,
    toleratedFailurePercentage: 100,
    resultWriterV2: new sfn.ResultWriterV2({ bucket, prefix: 'results' }),
    resultPath: '$.results',
  });
  map.itemProcessor(
    new tasks.LambdaInvoke(stack, 'RunTarget', {
      lambdaFunction: target,
      payloadResponseOnly: true,
    }).addRetry({
      errors: ['Lambda.TooManyRequestsException'],
      interval: Duration.seconds(2),
      maxAttempts: 4,
    }),
  );
  const definition = new tasks.LambdaInvoke(stack, 'PlanRun', {
    lambdaFunction: plan,
    resultSelector: {
      'count.$': '$.Payload.count',
      'key.$': '$.Payload.key',
      'operationId.$': '$.Payload.operationId',
    },
    resultPath: '$.plan',
  }).next(
    new sfn.Choice(stack, 'AnyTargets')
      .when(sfn.Condition.numberGreaterThan('$.plan.count', 0), map.next(new sfn.Succeed(stack, 'Done')))
      .otherwise(new sfn.Succeed(stack, 'Nothing')),
  );
  new sfn.StateMachine(stack, 'FleetRun', {
    definitionBody: sfn.DefinitionBody.fromChainable(definition),
    timeout: Duration.hours(1),
  });
  return Template.fromStack(stack).toJSON();
}

describe('resolveDefinition on a synthesized CDK stack', () => {
  const template = synthesize();
  const resources = template.Resources as Record<string, { Type: string }>;
  const planId = Object.keys(resources).find(
    (id) => id.startsWith('Plan') && resources[id]!.Type === 'AWS::Lambda::Function',
  )!;
  const targetId = Object.keys(resources).find(
    (id) => id.startsWith('Target') && resources[id]!.Type === 'AWS::Lambda::Function',
  )!;
  const bucketId = Object.keys(resources).find((id) => resources[id]!.Type === 'AWS::S3::Bucket')!;

  it('turns the DefinitionString tokens into placeholders and passes asl-validator', () => {
    const definition = resolveDefinition(template, 'FleetRun');
    validateDefinition(definition);
    const at = (path: string) => readPath(definition, path);
    assert.equal(at('$.States.PlanRun.Resource'), 'arn:aws:states:::lambda:invoke');
    assert.equal(at('$.States.PlanRun.Parameters.FunctionName'), functionArn(planId));
    assert.equal(at('$.States.Fleet.ItemReader.Parameters.Bucket'), bucketId);
    assert.equal(at('$.States.Fleet.ResultWriter.Parameters.Bucket'), bucketId);
    assert.equal(at('$.States.Fleet.ItemProcessor.ProcessorConfig.Mode'), 'DISTRIBUTED');
    assert.equal(definition.TimeoutSeconds, 3600);
  });

  it('throws the validator messages for an invalid definition', () => {
    assert.throws(
      () => validateDefinition({ StartAt: 'Nowhere', States: { A: { Type: 'Pass', End: true } } }),
      /MISSING_TRANSITION_TARGET|Nowhere/,
    );
  });

  it('runs the synthesized definition end to end over handlers routed by logical id', async () => {
    const definition = resolveDefinition(template, 'FleetRun');
    const store = memoryS3();
    await store.putObject(bucketId, 'plans/op-1.json', JSON.stringify(['h1', 'h2', 'h3', 'h4']));
    let throttled = false;
    const calls: string[] = [];
    const sim = new SimulatedStepFunctions({
      s3: store,
      invoke: async (target, payload) => {
        const id = logicalIdOf(target);
        calls.push(id);
        if (id === planId)
          return {
            count: 4,
            key: 'plans/op-1.json',
            operationId: (payload as { operationId: string }).operationId,
          };
        if (id === targetId) {
          const { target: host } = payload as { target: string };
          if (host === 'h2' && !throttled) {
            throttled = true;
            throw Object.assign(new Error('Rate Exceeded.'), {
              name: 'TooManyRequestsException',
              $metadata: {},
            });
          }
          if (host === 'h3') throw new Error('host h3 is unreachable');
          return { host, ok: true };
        }
        throw new Error(`no handler for ${target}`);
      },
    });
    const execution = sim.startExecution({ definition, name: 'op-1', input: { operationId: 'op-1' } });
    const result = await execution.result();
    assert.equal(result.status, 'SUCCEEDED', result.cause);
    assert.equal(calls.filter((c) => c === targetId).length, 5);
    const output = result.output as { results: { ResultWriterDetails: { Bucket: string; Key: string } } };
    assert.equal(output.results.ResultWriterDetails.Bucket, bucketId);
    const manifest = JSON.parse(store.objects.get(`${bucketId}/${output.results.ResultWriterDetails.Key}`)!);
    const ok = JSON.parse(store.objects.get(`${bucketId}/${manifest.ResultFiles.SUCCEEDED[0].Key}`)!);
    assert.deepEqual(ok.map((r: { Output: string }) => JSON.parse(r.Output).host).sort(), ['h1', 'h2', 'h4']);
    const failed = JSON.parse(store.objects.get(`${bucketId}/${manifest.ResultFiles.FAILED[0].Key}`)!);
    assert.equal(JSON.parse(failed[0].Input).target, 'h3');
    assert.ok(
      sim.events.some((e) => e.type === 'RetryScheduled' && e.error === 'Lambda.TooManyRequestsException'),
    );
  });

  it('routes tasks to handlers by logical id or its unique prefix, and rejects loudly without one', async () => {
    const definition = resolveDefinition(template, 'FleetRun');
    const sim = new SimulatedStepFunctions({
      invoke: routeByLogicalId({ Plan: async () => ({ count: 0, key: 'none', operationId: 'op-2' }) }),
    });
    const nothing = await sim.startExecution({ definition, input: {} }).result();
    assert.equal(nothing.status, 'SUCCEEDED');
    assert.deepEqual((nothing.output as { plan: unknown }).plan, {
      count: 0,
      key: 'none',
      operationId: 'op-2',
    });
    const unrouted = new SimulatedStepFunctions({ invoke: routeByLogicalId({ Other: async () => ({}) }) });
    await assert.rejects(
      unrouted.startExecution({ definition, input: {} }).result(),
      /no handler for arn:aws:lambda/,
    );
  });

  it('says not implemented, loudly, for a field it does not simulate', async () => {
    const sim = new SimulatedStepFunctions();
    const execution = sim.startExecution({
      definition: { StartAt: 'A', States: { A: { Type: 'Pass', Assign: { x: 1 }, End: true } } },
    });
    await assert.rejects(execution.result(), NotImplementedError);
    const jsonata = sim.startExecution({
      definition: { QueryLanguage: 'JSONata', StartAt: 'A', States: { A: { Type: 'Pass', End: true } } },
    });
    await assert.rejects(jsonata.result(), /not implemented: QueryLanguage JSONata/);
    const catchAssign = sim.startExecution({
      definition: {
        StartAt: 'A',
        States: {
          A: { Type: 'Pass', Next: 'T' },
          T: {
            Type: 'Task',
            Resource: 'arn:aws:lambda:sim:000000000000:function:F',
            Catch: [{ ErrorEquals: ['States.ALL'], Assign: { failed: true }, Next: 'A' }],
            End: true,
          },
        },
      },
    });
    await assert.rejects(catchAssign.result(), /not implemented: field Assign of a Retry\/Catch entry/);
    const choiceAssign = sim.startExecution({
      definition: {
        StartAt: 'C',
        States: {
          C: {
            Type: 'Choice',
            Choices: [{ Variable: '$.a', IsPresent: true, Assign: { x: 1 }, Next: 'E' }],
            Default: 'E',
          },
          E: { Type: 'Succeed' },
        },
      },
    });
    await assert.rejects(choiceAssign.result(), /not implemented: Choice rule field Assign/);
  });
});

describe('resolveDefinition on hand-written templates', () => {
  const template = {
    Parameters: { Stage: { Type: 'String', Default: 'prod' } },
    Resources: {
      Fn1: { Type: 'AWS::Lambda::Function' },
      Runs: { Type: 'AWS::DynamoDB::Table' },
      Bucket1: { Type: 'AWS::S3::Bucket' },
      Machine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          DefinitionString: {
            'Fn::Sub': [
              // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
              '{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"fn":"${Fn1.Arn}","name":"${Fn1}","table":"${Runs}","tableArn":"${Runs.Arn}","bucketArn":"${Bucket1.Arn}","stage":"${Stage}","region":"${AWS::Region}","literal":"${!Kept}","joined":"${Joined}","sub":"${!sub}"},"End":true}}}',
              {
                Joined: {
                  'Fn::Join': [
                    '-',
                    ['a', { Ref: 'AWS::AccountId' }, { 'Fn::Select': [1, { 'Fn::Split': [',', 'x,y'] }] }],
                  ],
                },
              },
            ],
          },
          DefinitionSubstitutions: { sub: { 'Fn::GetAtt': ['Runs', 'Arn'] } },
        },
      },
    },
  };

  it('resolves Fn::Sub, Fn::Join, Fn::Select/Split, Ref, Fn::GetAtt, parameters, pseudo parameters and substitutions', () => {
    const definition = resolveDefinition(template);
    assert.deepEqual(readPath(definition, '$.States.A.Result'), {
      fn: 'arn:aws:lambda:sim:000000000000:function:Fn1',
      name: 'Fn1',
      table: 'Runs',
      tableArn: 'arn:aws:dynamodb:sim:000000000000:table/Runs',
      bucketArn: 'arn:aws:s3:::Bucket1',
      stage: 'prod',
      region: 'sim',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${...} kept by Fn::Sub's ${!...}
      literal: '${Kept}',
      joined: 'a-000000000000-y',
      sub: 'arn:aws:dynamodb:sim:000000000000:table/Runs',
    });
    assert.equal(logicalIdOf('arn:aws:lambda:sim:000000000000:function:Fn1'), 'Fn1');
    assert.equal(logicalIdOf('Fn1'), 'Fn1');
  });

  it('refuses an ambiguous or unknown machine and an unsupported token', () => {
    assert.throws(() => resolveDefinition(template, 'Nope'), /0 state machines match 'Nope'/);
    const withIf = structuredClone(template) as {
      Resources: { Machine: { Properties: { DefinitionString: unknown } } };
    };
    withIf.Resources.Machine.Properties.DefinitionString = { 'Fn::If': ['C', 'a', 'b'] };
    assert.throws(() => resolveDefinition(withIf), NotImplementedError);
  });
});
