import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { API_ROUTES, API_THROTTLE } from '../../infra/api.ts';
import { FUNCTION_NAMES } from '../../infra/function.ts';
import { ROUTES } from '../../lib/api/handler.ts';
import { allRoutes } from '../../lib/api/local-routes.ts';
import { findRoute } from '../../lib/api/router.ts';
import { API_ROUTE_KEYS } from '../../lib/api/routes.ts';
import { findPage } from '../../lib/console/find-page.ts';
import { CONSOLE_GATEWAY_PATHS } from '../../lib/console/routes.ts';

/** A path the route template matches, with a valid value for each parameter. */
const SAMPLE: Record<string, string> = {
  server: 'web-1',
  product: 'haproxy',
  operationId: 'op_sample',
  file: 'app.js',
};
const samplePath = (template: string) =>
  template.replace(/\{([^}]+)\}/g, (_, name: string) => SAMPLE[name] ?? assert.fail(`no sample {${name}}`));

import { assemblyDir, flatten, type IamStatement, type Synthesized, synth } from './synth.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:cloudiq-alarms';

describe('the stack with its defaults', () => {
  const out = assemblyDir();
  let s: Synthesized;
  before(() => {
    s = synth(out.dir);
  });
  after(() => out.remove());

  it('has the five functions, arm64 on Node.js 24, each with its own log group of 30 days', () => {
    s.template.resourceCountIs('AWS::Lambda::Function', 5);
    for (const name of FUNCTION_NAMES) {
      const fn = s.stack.functions[name];
      const props = s.json.Resources[s.id(fn.function)]?.Properties;
      assert.equal(props?.['Runtime'], 'nodejs24.x', name);
      assert.deepEqual(props?.['Architectures'], ['arm64'], name);
      assert.equal(props?.['Handler'], 'index.handler', name);
      assert.deepEqual(
        props?.['LoggingConfig'],
        { LogFormat: 'JSON', LogGroup: { Ref: s.id(fn.logGroup) } },
        name,
      );
      assert.equal(props?.['VpcConfig'], undefined, name);
      assert.equal(s.json.Resources[s.id(fn.logGroup)]?.Properties?.['RetentionInDays'], 30, name);
    }
    // Five functions, the four state machines and the API's access logs: every log group has a retention.
    s.template.resourceCountIs('AWS::Logs::LogGroup', 10);
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('gives each function its time and memory: api under API Gateway’s 30 s, a heartbeat shard under the 5-minute period', () => {
    const settings = Object.fromEntries(
      FUNCTION_NAMES.map((name) => {
        const props = s.json.Resources[s.id(s.stack.functions[name].function)]?.Properties;
        return [name, [props?.['Timeout'], props?.['MemorySize']]];
      }),
    );
    assert.deepEqual(settings, {
      api: [29, 512],
      worker: [900, 1024],
      heartbeat: [300, 1024],
      'batch-upgrade': [30, 512],
      console: [5, 128],
    });
  });

  it('passes each function the environment it reads: the SSH key to those that reach hosts, the callback secret to those that call back', () => {
    const env = (name: (typeof FUNCTION_NAMES)[number]) => {
      const props = s.json.Resources[s.id(s.stack.functions[name].function)]?.Properties ?? {};
      const variables = (props['Environment'] as { Variables?: unknown } | undefined)?.Variables ?? {};
      return flatten(variables) as Record<string, string>;
    };
    const inventoryBucket = s.id(s.stack.node.findChild('InventoryBucket'));
    const sshKey = { SSH_KEY_SECRET_ARN: `{${s.id(s.stack.node.findChild('SshKey'))}}` };
    const common = {
      INVENTORY_SOURCE: `s3://{${inventoryBucket}}/inventory.ini`,
      FLEET_TAG_KEY: 'cloudiq:fleet',
      FLEET_TAG_VALUE: 'default',
      POWERTOOLS_SERVICE_NAME: 'cloudiq-bootstrap',
      POWERTOOLS_METRICS_NAMESPACE: 'CloudiqBootstrap',
    };
    const callback = { CALLBACK_SECRET_ARN: `{${s.id(s.stack.node.findChild('CallbackSecret'))}}` };
    const starter = {
      FLEET_STATE_MACHINE_ARN: `{${s.id(s.stack.machines.fleet)}}`,
      OPERATION_STATE_MACHINE_ARN: `{${s.id(s.stack.machines.operation)}}`,
    };
    const runs = { RUNS_BUCKET: `{${s.id(s.stack.node.findChild('RunsBucket'))}}` };
    const table = { RUN_TABLE_NAME: `{${s.id(s.stack.runTable.table)}}` };
    // It also hands a quick change's callback on: the change's result to the runs bucket, then
    // the ChangeCallback machine; it reads no callback secret (the worker signs).
    assert.deepEqual(env('api'), {
      ...common,
      ...sshKey,
      ...starter,
      ...table,
      ...runs,
      CHANGE_CALLBACK_STATE_MACHINE_ARN: `{${s.id(s.stack.machines.changeCallback)}}`,
    });
    // It starts runs and reads no secret (`runtime({ secrets: false })`): none is named to it.
    assert.deepEqual(env('batch-upgrade'), { ...common, ...starter, ...table });
    // The page's files are in its bundle: it reads nothing from its environment.
    assert.deepEqual(env('console'), {});
    assert.deepEqual(env('heartbeat'), {
      ...common,
      ...sshKey,
      ...callback,
      ...table,
      ...runs,
      HEARTBEAT_STATE_MACHINE_ARN:
        'arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:stateMachine:Test-heartbeat',
      HEARTBEAT_MAX_SHARDS: '18',
      HEARTBEAT_HOST_COST_MS: '1000',
      HEARTBEAT_PERIOD_MS: '300000',
    });
    assert.deepEqual(env('worker'), {
      ...common,
      ...sshKey,
      ...callback,
      ...runs,
      ...table,
      MAP_CONCURRENCY_CAP: '90',
    });
  });

  it('creates the SSH key and callback secrets with generated placeholders, kept on stack deletion', () => {
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    for (const id of ['SshKey', 'CallbackSecret']) {
      const resource = s.json.Resources[s.id(s.stack.node.findChild(id))] as Record<string, unknown>;
      assert.deepEqual((resource['Properties'] as Record<string, unknown>)['GenerateSecretString'], {
        ExcludePunctuation: true,
        PasswordLength: 48,
      });
      assert.equal(resource['DeletionPolicy'], 'Retain');
    }
  });

  it('creates a private, encrypted, TLS-only inventory bucket, and a runs bucket whose runs expire', () => {
    s.template.resourceCountIs('AWS::S3::Bucket', 2);
    s.template.allResourcesProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 90, Prefix: 'runs/', Status: 'Enabled' }] },
    });
    s.template.hasResourceProperties('AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    s.template.resourcePropertiesCountIs(
      'AWS::S3::BucketPolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      2,
    );
  });

  it('invokes no function asynchronously: no invoke configuration, no failure queue', () => {
    s.template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
    s.template.resourceCountIs('AWS::SQS::Queue', 0);
  });

  it('alarms on errors of each function, on failed, timed-out and aborted executions of each state machine, and on the fleet health, with no actions unless a topic is named', () => {
    for (const name of FUNCTION_NAMES) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: s.id(s.stack.functions[name].function) } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
    for (const machine of [
      s.stack.machines.fleet,
      s.stack.machines.operation,
      s.stack.machines.heartbeat,
      s.stack.machines.changeCallback,
    ]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/States',
        MetricName: 'ExecutionsFailed',
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: s.id(machine) } }],
        Threshold: 1,
      });
    }
    // 5 functions, 3 outcomes of 4 state machines, the fleet health (alarms-default-route.test.ts).
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 18);
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
  });

  it('runs the heartbeat every 5 minutes; a repeated delivery starts the same execution, so it may retry', () => {
    // Three rules: this schedule, FleetRunEnded and HeartbeatEnded (test/cloud/*-concurrency-simulation.test.ts).
    s.template.resourceCountIs('AWS::Events::Rule', 3);
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [s.id(s.stack.functions.heartbeat.function), 'Arn'] },
          Id: Match.anyValue(),
          RetryPolicy: { MaximumRetryAttempts: 2 },
        },
      ],
    });
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [s.id(s.stack.functions.heartbeat.function), 'Arn'] },
    });
  });

  it("gives a run's units of its function's concurrency back when its execution ends without its last step", () => {
    const cases = [
      { machine: s.stack.machines.fleet, fn: s.stack.functions.worker.function, step: 'run-ended' },
      {
        machine: s.stack.machines.heartbeat,
        fn: s.stack.functions.heartbeat.function,
        step: 'heartbeat-ended',
      },
    ];
    for (const { machine, fn, step } of cases) {
      s.template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.states'],
          'detail-type': ['Step Functions Execution Status Change'],
          detail: { stateMachineArn: [{ Ref: s.id(machine) }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
        },
        State: 'ENABLED',
        Targets: [
          {
            Arn: { 'Fn::GetAtt': [s.id(fn), 'Arn'] },
            Id: Match.anyValue(),
            InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp(`"step":"${step}"`) }),
            RetryPolicy: { MaximumRetryAttempts: 8 },
          },
        ],
      });
      s.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [s.id(fn), 'Arn'] },
      });
    }
    // The event is best effort: the worker may also ask whether a fleet run holding units still
    // runs — DescribeExecution on that machine's executions, nothing else.
    const workerRole = { Ref: s.id(s.stack.functions.worker.role) };
    const describes = Object.values(s.json.Resources).filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        JSON.stringify(r.Properties?.['Roles']) === JSON.stringify([workerRole]) &&
        JSON.stringify(r.Properties?.['PolicyDocument']).includes('states:DescribeExecution'),
    );
    assert.equal(describes.length, 1);
    const policy = describes[0]!.Properties!;
    const [statement] = (policy['PolicyDocument'] as { Statement: IamStatement[] }).Statement;
    assert.equal(statement!.Action, 'states:DescribeExecution');
    const resource = JSON.stringify(statement!.Resource);
    assert.match(resource, /:execution:/);
    assert.ok(
      resource.includes(s.id(s.stack.machines.fleet)),
      `${resource}: the fleet-run machine's executions`,
    );
  });

  it('routes every SPEC 7.1 route to api with payload 2.0 under IAM authorization, and the open console page to its own function', () => {
    // The route list is the API's own table (lib/api/routes.ts, a command's routes from its row).
    assert.deepEqual(
      API_ROUTES.map((r) => `${r.method} ${r.path}`),
      API_ROUTE_KEYS.map((r) => `${r.method} ${r.path}`),
    );
    s.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    s.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    s.template.resourceCountIs(
      'AWS::ApiGatewayV2::Route',
      API_ROUTES.length + CONSOLE_GATEWAY_PATHS.length + 1,
    );
    const routeResources = Object.values(s.json.Resources).filter(
      (resource) => resource.Type === 'AWS::ApiGatewayV2::Route',
    );
    const routes = routeResources.map((resource) => [
      resource.Properties?.['RouteKey'],
      resource.Properties?.['AuthorizationType'],
    ]);
    assert.deepEqual(
      routes.sort(),
      [
        ...API_ROUTE_KEYS.map((r) => [`${r.method} ${r.path}`, 'AWS_IAM']),
        ...CONSOLE_GATEWAY_PATHS.map((path) => [`GET ${path}`, 'NONE']),
        ['$default', 'AWS_IAM'],
      ].sort(),
    );
    // The handler answers every route key the template declares with that very route…
    for (const [key] of routes) {
      // `$default`: any other request, which the handler answers 404/405 in SPEC 2.6's shape.
      if (key === '$default') continue;
      const [method = '', path = ''] = String(key).split(' ');
      // The console's function answers the page's keys (functions/console.ts), the API's the rest.
      if (CONSOLE_GATEWAY_PATHS.includes(path)) {
        assert.ok(findPage(samplePath(path)), String(key));
        continue;
      }
      const lookup = findRoute(ROUTES, method, samplePath(path));
      assert.equal(lookup.kind, 'found', String(key));
      if (lookup.kind === 'found') assert.equal(lookup.match.route.path, path, String(key));
    }
    // …and the template declares every route the handler has (the console's files under one key).
    const declared = new Set(routes.map(([key]) => String(key)));
    for (const route of allRoutes()) {
      const key = `${route.method} ${route.path.startsWith('/console/') ? '/console/{file}' : route.path}`;
      assert.ok(declared.has(key), `${key} is not in the template`);
    }
    s.template.allResourcesProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    // Each route's integration: the console's function for the page, api for everything else.
    const functionOf = (route: (typeof routeResources)[number]) => {
      const target = flatten(route.Properties?.['Target']) as string;
      const integration = s.json.Resources[target.replace(/^integrations\/\{(.+)\}$/, '$1')];
      const uri = integration?.Properties?.['IntegrationUri'] as { 'Fn::GetAtt'?: string[] } | undefined;
      return uri?.['Fn::GetAtt']?.[0];
    };
    for (const route of routeResources) {
      const key = String(route.Properties?.['RouteKey']);
      const open = CONSOLE_GATEWAY_PATHS.some((path) => key === `GET ${path}`);
      assert.equal(
        functionOf(route),
        s.id(s.stack.functions[open ? 'console' : 'api'].function),
        `${key} goes to the wrong function`,
      );
    }
  });

  it('deploys the API on the $default stage with throttling and access logs', () => {
    s.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingBurstLimit: API_THROTTLE.burstLimit,
        ThrottlingRateLimit: API_THROTTLE.rateLimit,
      },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [s.id(s.stack.api.accessLogs), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
    });
  });

  it('outputs what an operator needs after deploying', () => {
    assert.deepEqual(Object.keys(s.json.Outputs ?? {}).sort(), [
      'ApiUrl',
      'BatchUpgradeFunctionName',
      'CallbackSecretArn',
      'ChangeCallbackStateMachineArn',
      'FleetStateMachineArn',
      'HeartbeatStateMachineArn',
      'InventorySource',
      'OperationStateMachineArn',
      'SshKeySecretArn',
    ]);
  });
});

describe('the stack with context', () => {
  const out = assemblyDir();
  let s: Synthesized;
  before(() => {
    s = synth(out.dir, {
      heartbeatSchedule: 'cron(0/10 * * * ? *)',
      authorizer: 'jwt',
      jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf',
      jwtAudience: 'cloudiq-console, cloudiq-cli',
      logRetentionDays: '90',
      inventorySource: 's3://cloudiq-inventory/fleets/prod.ini',
      sshKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/ssh-key-AbC123',
      callbackSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/callback-XyZ789',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
      securityGroupIds: 'sg-0123456789abcdef0',
      knownHostsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/known_hosts-Qw3rTy',
      callbackAllowPrivate: true,
      heartbeatCallbackUrl: 'https://ops.example.com/heartbeat',
      alarmTopicArn: TOPIC,
    });
  });
  after(() => out.remove());

  it('uses the JWT authorizer on every route', () => {
    s.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        Issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf',
        Audience: ['cloudiq-console', 'cloudiq-cli'],
      },
    });
    const authorizerId = Object.entries(s.json.Resources).find(
      ([, resource]) => resource.Type === 'AWS::ApiGatewayV2::Authorizer',
    )?.[0];
    s.template.resourcePropertiesCountIs(
      'AWS::ApiGatewayV2::Route',
      { AuthorizationType: 'JWT', AuthorizerId: { Ref: authorizerId } },
      API_ROUTES.length + 1,
    );
  });

  it('takes the schedule, the log retention and the heartbeat callback from context', () => {
    s.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(0/10 * * * ? *)' });
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ HEARTBEAT_CALLBACK_URL: 'https://ops.example.com/heartbeat' }),
      },
    });
    s.template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { Environment: { Variables: Match.objectLike({ HEARTBEAT_CALLBACK_URL: Match.anyValue() }) } },
      1,
    );
  });

  it('imports the secrets (known_hosts too) and the inventory instead of creating them', () => {
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    s.template.resourceCountIs('AWS::S3::Bucket', 1);
    const variables = (name: (typeof FUNCTION_NAMES)[number]): Record<string, unknown> => {
      const props = s.json.Resources[s.id(s.stack.functions[name].function)]?.Properties ?? {};
      return (props['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    };
    const pick = (from: Record<string, unknown>, keys: string[]) =>
      Object.fromEntries(keys.filter((key) => key in from).map((key) => [key, from[key]]));
    const fleet = {
      INVENTORY_SOURCE: 's3://cloudiq-inventory/fleets/prod.ini',
      CALLBACK_ALLOW_PRIVATE: 'true',
    };
    const hostSecrets = {
      SSH_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/ssh-key-AbC123',
      KNOWN_HOSTS_SECRET_ARN:
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/known_hosts-Qw3rTy',
    };
    const keys = [...Object.keys(fleet), ...Object.keys(hostSecrets)];
    for (const name of ['api', 'worker', 'heartbeat'] as const) {
      assert.deepEqual(pick(variables(name), keys), { ...fleet, ...hostSecrets }, name);
    }
    // batch-upgrade reads the inventory but no secret; the console neither.
    assert.deepEqual(pick(variables('batch-upgrade'), keys), fleet);
    assert.deepEqual(variables('console'), {});
  });

  it('puts every function that reaches the fleet in the given subnets and security groups; the console in none', () => {
    for (const name of FUNCTION_NAMES) {
      const props = s.json.Resources[s.id(s.stack.functions[name].function)]?.Properties ?? {};
      assert.deepEqual(
        props['VpcConfig'],
        name === 'console'
          ? undefined
          : {
              SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
              SecurityGroupIds: ['sg-0123456789abcdef0'],
            },
        name,
      );
    }
  });

  it('sends every alarm to the topic', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 18);
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [TOPIC] });
  });
});
