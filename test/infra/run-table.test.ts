import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { RUN_TABLE_ACTIONS, RunTable } from '../../infra/run-table.ts';
import { ENV } from '../../lib/cloud/environment.ts';
import { RUN_TABLE_KEY, RUN_TABLE_TTL_ATTRIBUTE } from '../../lib/cloud/run-table-schema.ts';
import { present } from '../../lib/optional.ts';

const outdir = mkdtempSync(join(tmpdir(), 'cloudiq-run-table-'));
after(() => rmSync(outdir, { recursive: true, force: true }));

/** A bare stack with the table and two functions, only one of them granted. */
function synth(removalPolicy?: RemovalPolicy) {
  const app = new App({ outdir: mkdtempSync(join(outdir, 'app-')) });
  const stack = new Stack(app, 'RunTableTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const runs = new RunTable(stack, 'Runs', present({ removalPolicy }));
  const make = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => {};'),
    });
  const granted = make('Granted');
  const other = make('Other');
  runs.grantReadWrite(granted);
  return { stack, runs, granted, other, template: Template.fromStack(stack) };
}

describe('RunTable', () => {
  const { stack, runs, granted, other, template } = synth();
  const tableId = stack.getLogicalId(runs.table.node.defaultChild as never);

  it('is one on-demand table keyed by id (string), TTL on expiresAt, point-in-time recovery on, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: RUN_TABLE_KEY, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: RUN_TABLE_TTL_ATTRIBUTE, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    assert.equal(RUN_TABLE_TTL_ATTRIBUTE, 'expiresAt');
  });

  it('grants the granted function item reads and writes on this table only, and names it in RUN_TABLE_NAME', () => {
    const roleOf = (fn: lambda.Function) => stack.getLogicalId(fn.role?.node.defaultChild as never);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleOf(granted) }],
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: [...RUN_TABLE_ACTIONS],
            Resource: { 'Fn::GetAtt': [tableId, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [roleOf(granted), 'Arn'] },
      Environment: { Variables: { [ENV.runTableName]: { Ref: tableId } } },
    });
    // No scan, query or batch anywhere, and nothing for the function not granted.
    const policies = template.findResources('AWS::IAM::Policy');
    const actions = JSON.stringify(policies);
    assert.doesNotMatch(actions, /dynamodb:(Scan|Query|Batch)/);
    for (const policy of Object.values(policies)) {
      assert.notDeepEqual(policy['Properties']?.['Roles'], [{ Ref: roleOf(other) }]);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [roleOf(other), 'Arn'] },
      Environment: Match.absent(),
    });
  });

  it('takes another removal policy when asked', () => {
    synth(RemovalPolicy.DESTROY).template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });
});
