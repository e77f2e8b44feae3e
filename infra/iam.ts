/**
 * The functions' IAM statements, written out action by action: no wildcard action anywhere, and a
 * `*` resource only for the few actions that have no resource-level permissions at all.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/** The only document our SSM transport sends (lib/transport/ssm). */
export const RUN_SHELL_DOCUMENT = 'AWS-RunShellScript';

/**
 * Run Command, least privilege, for the functions that reach hosts: `ssm:SendCommand` needs the
 * document and every target instance as resources; the instances are limited to those carrying
 * the fleet's tag (EC2 instances and hybrid managed nodes alike). Following and cancelling a
 * command have no resource-level permissions, hence `*` there.
 *
 * A host or a dynamic source may name its own `region` (SPEC 3.1), and a command is sent in the
 * host's region, to that region's document and instances: the ARNs are those of `regions` (the
 * `fleetRegions` setting), the stack's own region when none are given. Not `*` for the region:
 * the operator can list the regions the inventory uses, and a wildcard would let a function run
 * commands on tagged instances in every region of the account.
 */
export function ssmRunStatements(
  scope: Construct,
  tagKey: string,
  tagValue: string,
  regions?: readonly string[],
): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const inRegions = regions !== undefined && regions.length > 0 ? regions : [Aws.REGION];
  return [
    new iam.PolicyStatement({
      sid: 'SendRunShellScript',
      actions: ['ssm:SendCommand'],
      resources: inRegions.map((region) =>
        stack.formatArn({
          service: 'ssm',
          region,
          account: '',
          resource: 'document',
          resourceName: RUN_SHELL_DOCUMENT,
        }),
      ),
    }),
    new iam.PolicyStatement({
      sid: 'SendToFleetInstances',
      actions: ['ssm:SendCommand'],
      resources: [
        ...inRegions.map((region) => `arn:${Aws.PARTITION}:ec2:${region}:${Aws.ACCOUNT_ID}:instance/*`),
        ...inRegions.map(
          (region) => `arn:${Aws.PARTITION}:ssm:${region}:${Aws.ACCOUNT_ID}:managed-instance/*`,
        ),
      ],
      conditions: { StringEquals: { [`ssm:resourceTag/${tagKey}`]: tagValue } },
    }),
    new iam.PolicyStatement({
      sid: 'FollowCommands',
      actions: ['ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:CancelCommand'],
      resources: ['*'],
    }),
  ];
}

/**
 * Listing the fleet for the inventory's dynamic sources (SPEC 3.1 v2): the two Describe calls,
 * read-only. Neither supports resource-level permissions (the service authorization reference
 * lists no resource type for them), hence `*`.
 */
export function listFleetStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ListDynamicInventory',
    actions: ['ec2:DescribeInstances', 'ssm:DescribeInstanceInformation'],
    resources: ['*'],
  });
}

/** `GetSecretValue` on exactly these secrets. */
export function readSecretsStatement(secretArns: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ReadSecrets',
    actions: ['secretsmanager:GetSecretValue'],
    resources: secretArns,
  });
}

/** `GetObject` on the one inventory object. */
export function readInventoryStatement(bucket: string, key: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'ReadInventory',
    actions: ['s3:GetObject'],
    resources: [`arn:${Aws.PARTITION}:s3:::${bucket}/${key}`],
  });
}

/** Writing to the function's own log group; Lambda creates no group of its own. */
export function writeLogsStatement(logGroupArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'WriteLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroupArn],
  });
}

/**
 * What Lambda needs to attach a function to subnets (AWSLambdaVPCAccessExecutionRole's actions);
 * EC2 offers no resource-level permissions for these.
 */
export function vpcAccessStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'AttachToVpc',
    actions: [
      'ec2:CreateNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
    ],
    resources: ['*'],
  });
}

/** Starting executions of exactly these state machines. */
export function startExecutionStatement(stateMachineArns: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'StartRuns',
    actions: ['states:StartExecution'],
    resources: stateMachineArns,
  });
}

/**
 * The API function's access to the runs bucket: it writes a quick change's result where the
 * ChangeCallback execution's step reads it (`runs/<operationId>/change.json`,
 * lib/fleet/steps/change.ts), and nothing else there: it reads none of the runs' objects.
 */
export function writeChangeResultsStatement(bucketArn: string, prefix: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'WriteChangeResults',
    actions: ['s3:PutObject'],
    resources: [`${bucketArn}/${prefix}*/change.json`],
  });
}

/**
 * The steps' access to the runs bucket: they read and write item lists, per-target reports,
 * the Map Runs' result files and the aggregated result. Listing `runs/` is what makes S3 answer
 * a missing object with NoSuchKey (a step asking whether a report is kept) rather than AccessDenied.
 */
export function runsBucketStatements(bucketArn: string, prefix: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReadWriteRuns',
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [`${bucketArn}/${prefix}*`],
    }),
    new iam.PolicyStatement({
      sid: 'ListRuns',
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
    }),
  ];
}
