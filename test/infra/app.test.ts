/**
 * `npm run synth` as it runs on a fresh machine: infra/app.ts in a fresh process with no AWS
 * credentials, no ~/.aws and no instance metadata, writing the cloud assembly to a temp dir.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FUNCTION_NAMES } from '../../infra/function.ts';
import { ROOT } from '../../scripts/bundle.mjs';
import { resolveDefinition, validateDefinition } from '../support/asl/index.ts';

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
}

describe('the CDK app', () => {
  const missing = FUNCTION_NAMES.filter((name) => !existsSync(join(ROOT, 'functions', `${name}.ts`)));
  let outdir: string;
  let run: ReturnType<typeof spawnSync>;
  before(() => {
    outdir = mkdtempSync(join(tmpdir(), 'cloudiq-synth-'));
    run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: outdir,
        CDK_OUTDIR: outdir,
        AWS_EC2_METADATA_DISABLED: 'true',
        NODE_NO_WARNINGS: '1',
      },
    });
  });
  after(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes offline, with no credentials, each function from its bundle', (t) => {
    if (missing.length > 0) {
      // Refusing is right: a stack without a function's code is not deployable.
      assert.notEqual(run.status, 0);
      assert.match(String(run.stderr), new RegExp(`no bundle for the ${missing[0]} function`));
      t.diagnostic(`not written yet: ${missing.map((name) => `functions/${name}.ts`).join(', ')}`);
      return;
    }
    assert.equal(run.status, 0, String(run.stderr));
    const template = JSON.parse(
      readFileSync(join(outdir, 'CloudiqBootstrap.template.json'), 'utf8'),
    ) as Template;
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    assert.equal(functions.length, FUNCTION_NAMES.length);
    for (const fn of functions) {
      assert.equal(fn.Properties['Runtime'], 'nodejs24.x');
      assert.deepEqual(fn.Properties['Architectures'], ['arm64']);
      // The code is a file asset: the cloud assembly holds it as asset.<hash>/, uploaded as <hash>.zip.
      const key = /"S3Key":"([0-9a-f]{64})\.zip"/.exec(JSON.stringify(fn.Properties['Code']))?.[1];
      assert.ok(key, JSON.stringify(fn.Properties['Code']));
      // The bundle alone: index.mjs and the chunks it loads with import() (scripts/bundle.mjs);
      // the console's page loads nothing later, so its asset is index.mjs alone.
      const asset = join(outdir, `asset.${key}`);
      const files = readdirSync(asset);
      if (String(fn.Properties['Description']).includes('console page')) {
        assert.deepEqual(files, ['index.mjs'], 'the console asset is its bundle alone');
        continue;
      }
      assert.deepEqual(files, ['chunks', 'index.mjs'], 'the asset is the bundle alone');
      const chunks = readdirSync(join(asset, 'chunks'));
      assert.ok(chunks.length > 0 && chunks.every((file) => file.endsWith('.mjs')), chunks.join(' '));
    }
    const description = functions.map((fn) => fn.Properties['Description']).sort();
    assert.equal(new Set(description).size, FUNCTION_NAMES.length);
  });

  it('gives the state machines, the run table, reserved concurrency, the fleet-run route, and no self-invoking function', () => {
    assert.equal(run.status, 0, String(run.stderr));
    const template = JSON.parse(
      readFileSync(join(outdir, 'CloudiqBootstrap.template.json'), 'utf8'),
    ) as Template;
    const of = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
    const machines = of('AWS::StepFunctions::StateMachine');
    assert.equal(machines.length, 4);
    for (const [id, machine] of machines) {
      const definition = resolveDefinition(template, id);
      validateDefinition(definition);
      assert.equal(machine.Properties['StateMachineType'], 'STANDARD');
    }
    assert.equal(of('AWS::DynamoDB::Table').length, 1);
    const reserved = of('AWS::Lambda::Function')
      .map(([, fn]) => fn.Properties['ReservedConcurrentExecutions'])
      .filter((value) => value !== undefined);
    assert.deepEqual(reserved.sort(), [100, 20].sort());
    assert.ok(
      of('AWS::ApiGatewayV2::Route').some(
        ([, route]) => route.Properties['RouteKey'] === 'GET /fleet/operations/{operationId}',
      ),
    );
    // No function may invoke a function (itself included): no role of a function grants it.
    const functionRoles = new Set(
      of('AWS::Lambda::Function').map(([, fn]) => JSON.stringify(fn.Properties['Role'])),
    );
    for (const [, policy] of of('AWS::IAM::Policy')) {
      const roles = (policy.Properties['Roles'] as unknown[]).map((role) =>
        JSON.stringify({ 'Fn::GetAtt': [(role as { Ref: string }).Ref, 'Arn'] }),
      );
      if (!roles.some((role) => functionRoles.has(role))) continue;
      const text = JSON.stringify(policy.Properties['PolicyDocument']);
      assert.ok(!text.includes('lambda:InvokeFunction'), 'a function role may invoke a function');
    }
    assert.equal(of('AWS::Lambda::EventInvokeConfig').length, 0);
  });
});
