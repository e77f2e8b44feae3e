/**
 * One of the five functions: its own role (nothing but what the stack grants it), its own log
 * group with retention, arm64 on the current Node.js runtime, an errors alarm, and optionally
 * subnets and security groups to reach hosts over SSH.
 *
 * The code is an asset built by scripts/bundle.mjs (esbuild, ESM), not by CDK's NodejsFunction:
 * the bundle inlines the host's sh prelude and leaves out ssh2's native add-ons through an
 * esbuild plugin, which NodejsFunction (esbuild's command line) cannot take; and the same build
 * serves `npm run build`, the infra tests and deployment, so the bytes tested are the bytes
 * deployed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { vpcAccessStatement, writeLogsStatement } from './iam.ts';
import type { NetworkSettings } from './settings.ts';

/** The handlers, functions/<name>.ts, bundled to dist/functions/<name>/index.mjs. */
export const FUNCTION_NAMES = ['api', 'worker', 'heartbeat', 'batch-upgrade', 'console'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** The newest Node.js runtime of the installed aws-cdk-lib that Lambda runs on arm64. */
export const RUNTIME = lambda.Runtime.NODEJS_24_X;
export const ARCHITECTURE = lambda.Architecture.ARM_64;

/** Each function's asset from a bundle directory; refuses a missing bundle rather than deploy without it. */
export function bundledCode(dir: string): (name: FunctionName) => lambda.Code {
  return (name) => {
    const path = join(dir, 'functions', name);
    if (!existsSync(join(path, 'index.mjs'))) {
      throw new Error(`no bundle for the ${name} function in ${path} (is functions/${name}.ts there?)`);
    }
    return lambda.Code.fromAsset(path);
  };
}

export interface BootstrapFunctionProps {
  name: FunctionName;
  description: string;
  code: lambda.Code;
  memorySize: number;
  timeout: Duration;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  network: NetworkSettings | undefined;
  /**
   * Executions kept for this function alone (and the most it runs at once): what a state
   * machine's Map may ask of it without throttling anything else in the account (SPEC 7.3).
   */
  reservedConcurrency?: number | undefined;
}

export class BootstrapFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BootstrapFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // No managed policy: AWSLambdaBasicExecutionRole would let it write to any log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `cloudiq-bootstrap ${props.name} function`,
    });
    this.role.addToPolicy(writeLogsStatement(this.logGroup.logGroupArn));
    if (props.network) this.role.addToPolicy(vpcAccessStatement());

    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      handler: 'index.handler',
      code: props.code,
      role: this.role,
      memorySize: props.memorySize,
      timeout: props.timeout,
      environment: props.environment,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
    });
    if (props.network) {
      // Set on the resource itself: lambda.Function wants an IVpc, which offline synthesis can
      // only fake; Lambda needs nothing but the subnet and security group ids.
      const cfn = this.function.node.defaultChild as lambda.CfnFunction;
      cfn.vpcConfig = {
        subnetIds: props.network.subnetIds,
        securityGroupIds: props.network.securityGroupIds,
      };
    }

    this.errorsAlarm = this.function
      .metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM })
      .createAlarm(this, 'ErrorsAlarm', {
        alarmDescription: `cloudiq-bootstrap ${props.name}: invocations failed`,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
  }
}
