import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  allStatements,
  assemblyDir,
  flatten,
  type IamStatement,
  type Synthesized,
  statementsOfRole,
  synth,
} from './synth.ts';

const SSH_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/ssh-key-AbC123';
const CALLBACK_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/callback-XyZ789';
const KNOWN_HOSTS_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cloudiq/known_hosts-Qw3rTy';

const DOCUMENT = 'arn:{AWS::Partition}:ssm:{AWS::Region}::document/AWS-RunShellScript';
const INSTANCES = [
  'arn:{AWS::Partition}:ec2:{AWS::Region}:{AWS::AccountId}:instance/*',
  'arn:{AWS::Partition}:ssm:{AWS::Region}:{AWS::AccountId}:managed-instance/*',
];

/**
 * AWS's managed policy AWSLambdaVPCAccessExecutionRole (v3), as AWS's managed-policy reference
 * prints its JSON: what a function needs to be attached to subnets. The stack grants its `ec2:`
 * actions, in its order, as AttachToVpc, and its log writes as WriteLogs; not logs:CreateLogGroup,
 * since the stack makes each function's log group itself.
 */
const LAMBDA_VPC_POLICY = JSON.parse(
  '{ "Version" : "2012-10-17", "Statement" : [ { "Sid" : "AWSLambdaVPCAccessExecutionPermissions", "Effect" : "Allow", "Action" : [ "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses" ], "Resource" : "*" } ] }',
) as { Statement: [{ Action: string[] }] };

/** Lambda's VPC attachment: what a function in subnets needs for its network interfaces. */
const VPC_ACTIONS = LAMBDA_VPC_POLICY.Statement[0].Action.filter((action) => action.startsWith('ec2:'));

function ssmStatements(tagKey: string, tagValue: string): IamStatement[] {
  return [
    { Sid: 'SendRunShellScript', Effect: 'Allow', Action: 'ssm:SendCommand', Resource: DOCUMENT },
    {
      Sid: 'SendToFleetInstances',
      Effect: 'Allow',
      Action: 'ssm:SendCommand',
      Resource: INSTANCES,
      Condition: { StringEquals: { [`ssm:resourceTag/${tagKey}`]: tagValue } },
    },
    {
      Sid: 'FollowCommands',
      Effect: 'Allow',
      Action: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand'],
      Resource: '*',
    },
    // Every function reads the inventory, so every one may list its dynamic sources.
    {
      Sid: 'ListDynamicInventory',
      Effect: 'Allow',
      Action: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
      Resource: '*',
    },
  ];
}

/**
 * What the fleet functions' roles hold: SSM, its own log group, the inventory, its secrets (none
 * when `secrets` is undefined), the run table.
 */
function functionStatements(
  s: Synthesized,
  fn: { logGroup: object },
  access: { tag: [string, string]; inventory: string; secrets: string | string[] | undefined },
): IamStatement[] {
  return [
    ...ssmStatements(...access.tag),
    {
      Sid: 'WriteLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: `{${s.id(fn.logGroup)}.Arn}`,
    },
    { Sid: 'ReadInventory', Effect: 'Allow', Action: 's3:GetObject', Resource: access.inventory },
    ...(access.secrets === undefined
      ? []
      : [
          {
            Sid: 'ReadSecrets',
            Effect: 'Allow',
            Action: 'secretsmanager:GetSecretValue',
            Resource: access.secrets,
          },
        ]),
    {
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      Resource: `{${s.id(s.stack.runTable.table)}.Arn}`,
    },
  ];
}

/** The default stack's access: the `cloudiq:fleet` tag and the stack's own inventory object. */
function defaultAccess(s: Synthesized, secrets: string | string[] | undefined) {
  const inventory = `arn:{AWS::Partition}:s3:::{${inventoryBucketId(s)}}/inventory.ini`;
  return { tag: ['cloudiq:fleet', 'default'] as [string, string], inventory, secrets };
}

/** A role's statements, flattened and in a stable order (by Sid, then by action). */
function roleStatements(s: Synthesized, roleConstruct: object): unknown[] {
  return sortStatements(statementsOfRole(s.json, s.id(roleConstruct)).map(flatten));
}

function sortStatements(statements: unknown[]): unknown[] {
  const key = (statement: unknown) => {
    const st = statement as IamStatement;
    return `${st.Sid ?? ''}|${[st.Action].flat().join(',')}`;
  };
  return [...statements].sort((a, b) => key(a).localeCompare(key(b)));
}

describe('IAM: each function has its own least-privilege role', () => {
  const out = assemblyDir();
  let s: Synthesized;
  let custom: Synthesized;
  before(() => {
    s = synth(out.dir);
    custom = synth(out.dir, {
      fleetTagKey: 'Fleet',
      fleetTagValue: 'prod-eu',
      inventorySource: 's3://cloudiq-inventory/fleets/prod.ini',
      sshKeySecretArn: SSH_ARN,
      callbackSecretArn: CALLBACK_ARN,
      knownHostsSecretArn: KNOWN_HOSTS_ARN,
      subnetIds: 'subnet-0123456789abcdef0,subnet-0fedcba9876543210',
      securityGroupIds: 'sg-0123456789abcdef0',
    });
  });
  after(() => out.remove());

  it('no statement anywhere grants a wildcard action, and every statement allows', () => {
    for (const synthesized of [s, custom]) {
      const statements = allStatements(synthesized.json);
      assert.ok(statements.length > 20);
      for (const statement of statements) {
        assert.equal(statement.Effect, 'Allow');
        for (const action of [statement.Action].flat()) {
          assert.match(action, /^[a-z0-9-]+:[A-Za-z0-9]+$/, `wildcard or malformed action ${action}`);
        }
      }
    }
  });

  it('a `*` resource only for actions without resource-level permissions', () => {
    const allowed = new Set([
      'ssm:GetCommandInvocation',
      'ssm:ListCommandInvocations',
      'ssm:CancelCommand',
      // Listing the dynamic inventory's sources (SPEC 3.1 v2).
      'ec2:DescribeInstances',
      'ssm:DescribeInstanceInformation',
      // Step Functions' log delivery (CloudWatch Logs vended logs) and Lambda's VPC attachment.
      'logs:CreateLogDelivery',
      'logs:GetLogDelivery',
      'logs:UpdateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:DescribeResourcePolicies',
      'logs:DescribeLogGroups',
      ...VPC_ACTIONS,
    ]);
    for (const synthesized of [s, custom]) {
      for (const statement of allStatements(synthesized.json)) {
        if (![statement.Resource].flat().includes('*')) continue;
        for (const action of [statement.Action].flat()) assert.ok(allowed.has(action), `${action} on *`);
      }
    }
  });

  it('no role carries a managed policy', () => {
    for (const [id, resource] of Object.entries(s.json.Resources)) {
      if (resource.Type !== 'AWS::IAM::Role') continue;
      assert.equal(resource.Properties?.['ManagedPolicyArns'], undefined, id);
    }
  });

  it('the five functions have five distinct roles, each assumed by Lambda only', () => {
    const roles = Object.values(s.stack.functions).map((fn) => s.id(fn.role));
    assert.equal(new Set(roles).size, 5);
    for (const roleId of roles) {
      const trust = s.json.Resources[roleId]?.Properties?.['AssumeRolePolicyDocument'];
      assert.deepEqual(trust, {
        Version: '2012-10-17',
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
        ],
      });
    }
  });

  it('api: logs, SSM on the document and tagged instances, inventory, SSH key, the run table, start runs, keep a change’s result', () => {
    const { api } = s.stack.functions;
    assert.deepEqual(
      roleStatements(s, api.role),
      sortStatements([
        ...functionStatements(s, api, defaultAccess(s, `{${secretId(s, 'SshKey')}}`)),
        {
          Sid: 'StartRuns',
          Effect: 'Allow',
          Action: 'states:StartExecution',
          Resource: [
            `{${s.id(s.stack.machines.fleet)}}`,
            `{${s.id(s.stack.machines.operation)}}`,
            `{${s.id(s.stack.machines.changeCallback)}}`,
          ],
        },
        // A quick change's result, for its ChangeCallback execution (lib/fleet/steps/change.ts):
        // written, never read, and nothing else in the runs bucket.
        {
          Sid: 'WriteChangeResults',
          Effect: 'Allow',
          Action: 's3:PutObject',
          Resource: `{${runsBucketId(s)}.Arn}/runs/*/change.json`,
        },
      ]),
    );
  });

  it('worker and heartbeat: both secrets, the runs bucket, the run table; the worker describes fleet runs, heartbeat starts its own machine only', () => {
    const { worker, heartbeat } = s.stack.functions;
    const runs = `{${runsBucketId(s)}.Arn}`;
    const secrets = [`{${secretId(s, 'SshKey')}}`, `{${secretId(s, 'CallbackSecret')}}`];
    const base = (fn: typeof worker) => [
      ...functionStatements(s, fn, defaultAccess(s, secrets)),
      {
        Sid: 'ReadWriteRuns',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: `${runs}/runs/*`,
      },
      {
        Sid: 'ListRuns',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: runs,
        Condition: { StringLike: { 's3:prefix': ['runs/*'] } },
      },
    ];
    /** Each role: the shared statements and one Step Functions action of its own. */
    const expectRole = (fn: typeof worker, Sid: string, Action: string, Resource: string) =>
      assert.deepEqual(
        roleStatements(s, fn.role),
        sortStatements([...base(fn), { Sid, Effect: 'Allow', Action, Resource }]),
      );
    // The worker may also ask whether a fleet run holding units of its concurrency still runs
    // (lib/fleet/steps/reserve.ts): that machine's executions only.
    expectRole(
      worker,
      'DescribeFleetRuns',
      'states:DescribeExecution',
      `arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:execution:{${s.id(s.stack.machines.fleet)}.Name}:*`,
    );
    expectRole(
      heartbeat,
      'StartRuns',
      'states:StartExecution',
      'arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:stateMachine:Test-heartbeat',
    );
    // That ARN is the heartbeat machine's own: its fixed name.
    assert.equal(
      s.json.Resources[s.id(s.stack.machines.heartbeat)]?.Properties?.['StateMachineName'],
      'Test-heartbeat',
    );
  });

  it('batch-upgrade, with context: the inventory object and its sources, VPC access; no SSM command, no secret', () => {
    const fn = custom.stack.functions['batch-upgrade'];
    // It only checks the request, records it and starts the run (`runtime({ secrets: false })`):
    // it reaches no host and reads no secret, even where the context names all three.
    const reachesNoHost = (statement: IamStatement) =>
      !['SendRunShellScript', 'SendToFleetInstances', 'FollowCommands'].includes(statement.Sid ?? '');
    assert.deepEqual(
      roleStatements(custom, fn.role),
      sortStatements([
        ...functionStatements(custom, fn, {
          tag: ['Fleet', 'prod-eu'],
          inventory: 'arn:{AWS::Partition}:s3:::cloudiq-inventory/fleets/prod.ini',
          secrets: undefined,
        }).filter(reachesNoHost),
        {
          Sid: 'AttachToVpc',
          Effect: 'Allow',
          Action: VPC_ACTIONS,
          Resource: '*',
        },
        {
          Sid: 'StartRuns',
          Effect: 'Allow',
          Action: 'states:StartExecution',
          Resource: [
            `{${custom.id(custom.stack.machines.fleet)}}`,
            `{${custom.id(custom.stack.machines.operation)}}`,
          ],
        },
      ]),
    );
  });

  it('console, with defaults and with context: its own log group, and nothing else', () => {
    for (const synthesized of [s, custom]) {
      const fn = synthesized.stack.functions.console;
      assert.deepEqual(roleStatements(synthesized, fn.role), [
        {
          Sid: 'WriteLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: `{${synthesized.id(fn.logGroup)}.Arn}`,
        },
      ]);
    }
  });

  it('no function invokes any function, itself included: only the state machines invoke the step functions', () => {
    const { worker, heartbeat } = s.stack.functions;
    const machines = s.stack.machines;
    const machineRoles = [
      machines.fleet,
      machines.operation,
      machines.heartbeat,
      machines.changeCallback,
    ].map((m) => s.id(m.role));
    const byRole = (action: string) =>
      Object.values(s.stack.functions)
        .map((fn) => s.id(fn.role))
        .concat(machineRoles)
        .filter((roleId) =>
          statementsOfRole(s.json, roleId).some((st) => [st.Action].flat().includes(action)),
        )
        .sort();
    assert.deepEqual(byRole('lambda:InvokeFunction'), [...machineRoles].sort());
    for (const statement of allStatements(s.json)) {
      for (const action of [statement.Action].flat()) {
        if (action === 'lambda:InvokeFunction') {
          const resources = flatten(statement.Resource) as string[];
          for (const resource of resources) {
            assert.ok(
              [worker, heartbeat].some((fn) => resource.startsWith(`{${s.id(fn.function)}.Arn}`)),
              `${resource} is a step function`,
            );
          }
        }
      }
    }
    const invokes = (machine: { role: object }) =>
      flatten(
        statementsOfRole(s.json, s.id(machine.role))
          .filter((st) => [st.Action].flat().includes('lambda:InvokeFunction'))
          .map((st) => st.Resource),
      );
    const arns = (fn: typeof worker) => [[`{${s.id(fn.function)}.Arn}`, `{${s.id(fn.function)}.Arn}:*`]];
    assert.deepEqual(invokes(machines.fleet), arns(worker));
    assert.deepEqual(invokes(machines.operation), arns(worker));
    assert.deepEqual(invokes(machines.heartbeat), arns(heartbeat));
    assert.deepEqual(invokes(machines.changeCallback), arns(worker));
    // api, batch-upgrade and the heartbeat function start executions; the Maps their own children.
    assert.deepEqual(
      byRole('states:StartExecution'),
      [
        s.id(s.stack.functions.api.role),
        s.id(s.stack.functions['batch-upgrade'].role),
        s.id(heartbeat.role),
        s.id(machines.fleet.role),
        s.id(machines.heartbeat.role),
      ].sort(),
    );
  });

  it('with context, api reads the SSH key and known_hosts, and still not the callback secret', () => {
    const reads = statementsOfRole(custom.json, custom.id(custom.stack.functions.api.role)).filter(
      (st) => st.Sid === 'ReadSecrets',
    );
    assert.deepEqual(
      reads.map((st) => st.Resource),
      [[SSH_ARN, KNOWN_HOSTS_ARN]],
    );
  });

  it('without VPC context no function asks for network interfaces', () => {
    for (const statement of allStatements(s.json)) {
      for (const action of [statement.Action].flat()) {
        // Listing instances (dynamic inventory) is no network-interface action.
        if (action === 'ec2:DescribeInstances') continue;
        assert.ok(!action.startsWith('ec2:'), action);
      }
    }
  });
});

function findConstruct(s: Synthesized, id: string): object {
  const found = s.stack.node.tryFindChild(id);
  assert.ok(found, `no construct ${id}`);
  return found;
}

function inventoryBucketId(s: Synthesized): string {
  return s.id(findConstruct(s, 'InventoryBucket'));
}

function runsBucketId(s: Synthesized): string {
  return s.id(findConstruct(s, 'RunsBucket'));
}

function secretId(s: Synthesized, id: string): string {
  return s.id(findConstruct(s, id));
}
