/**
 * The run table (SPEC 4, 5 v2): the DynamoDB table of the two facts a fleet run shares between
 * invocations, its record with the failure count (lib/cloud/dynamo-run-store.ts) and whether its
 * callback was delivered (lib/cloud/dynamo-delivery-ledger.ts, Powertools idempotency records).
 * Both kinds of item live under the one partition key `id`, told apart by their prefixes, and
 * expire through the one TTL attribute `expiresAt` (lib/cloud/run-table-schema.ts).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../lib/cloud/environment.ts';
import { RUN_TABLE_KEY, RUN_TABLE_TTL_ATTRIBUTE } from '../lib/cloud/run-table-schema.ts';

/** Every action the run store and Powertools' DynamoDB persistence layer call: items one by one. */
export const RUN_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

export interface RunTableProps {
  /** Default RETAIN, as the stack keeps its other data (the buckets, the secrets). */
  removalPolicy?: RemovalPolicy;
}

export class RunTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: RunTableProps = {}) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: RUN_TABLE_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: RUN_TABLE_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /**
   * Lets `fn` read and write the table's items (nothing else: no scan, no query, no batch) and
   * names the table to it in `RUN_TABLE_NAME`.
   */
  grantReadWrite(fn: lambda.Function): iam.Grant {
    fn.addEnvironment(ENV.runTableName, this.table.tableName);
    return iam.Grant.addToPrincipal({
      grantee: fn,
      actions: [...RUN_TABLE_ACTIONS],
      resourceArns: [this.table.tableArn],
    });
  }
}
