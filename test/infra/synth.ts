/**
 * Synthesizes the stack for the infra tests, in a temp dir each test file removes, with context
 * as `-c` would give it. The functions' code is a stand-in here: these tests read the template;
 * bundles.test.ts and app.test.ts check the real bundles and the app that deploys them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { readSettings } from '../../infra/settings.ts';
import { CloudiqStack } from '../../infra/stack.ts';

export interface Synthesized {
  stack: CloudiqStack;
  template: Template;
  json: TemplateJson;
  /** The logical id of a construct's CloudFormation resource. */
  id(construct: { node: { defaultChild?: unknown } } | object): string;
}

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }>;
  Outputs?: Record<string, unknown>;
}

export interface IamStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** A temp dir for cloud assemblies, and its removal. */
export function assemblyDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-infra-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The stack with this context, synthesized under `outdir`. */
export function synth(outdir: string, context: Record<string, unknown> = {}): Synthesized {
  const app = new App({ outdir: mkdtempSync(join(outdir, 'app-')), context });
  const stack = new CloudiqStack(app, 'Test', {
    settings: readSettings((key) => app.node.tryGetContext(key)),
    code: (name) => lambda.Code.fromInline(`// functions/${name}.ts, bundled elsewhere`),
  });
  const template = Template.fromStack(stack);
  return {
    stack,
    template,
    json: template.toJSON() as TemplateJson,
    id: (construct) => {
      const node = (construct as { node: { defaultChild?: unknown } }).node;
      const child = (node.defaultChild ?? construct) as Parameters<typeof stack.getLogicalId>[0];
      return stack.resolve(stack.getLogicalId(child)) as string;
    },
  };
}

/** Every statement of the policies attached to the role with this logical id (inline and AWS::IAM::Policy). */
export function statementsOfRole(json: TemplateJson, roleId: string): IamStatement[] {
  const statements: IamStatement[] = [];
  for (const resource of Object.values(json.Resources)) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Policy') {
      const roles = (props['Roles'] as { Ref: string }[] | undefined) ?? [];
      if (roles.some((role) => role.Ref === roleId)) {
        statements.push(...(props['PolicyDocument'] as { Statement: IamStatement[] }).Statement);
      }
    }
  }
  const role = json.Resources[roleId];
  for (const policy of (role?.Properties?.['Policies'] as {
    PolicyDocument: { Statement: IamStatement[] };
  }[]) ?? []) {
    statements.push(...policy.PolicyDocument.Statement);
  }
  return statements;
}

/** Every IAM statement in the template: policies, roles' inline policies, managed policies. */
export function allStatements(json: TemplateJson): IamStatement[] {
  const out: IamStatement[] = [];
  for (const resource of Object.values(json.Resources)) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      out.push(...(props['PolicyDocument'] as { Statement: IamStatement[] }).Statement);
    }
    if (resource.Type === 'AWS::IAM::Role') {
      for (const policy of (props['Policies'] as { PolicyDocument: { Statement: IamStatement[] } }[]) ?? []) {
        out.push(...policy.PolicyDocument.Statement);
      }
    }
  }
  return out;
}

/** Intrinsics as text (`Fn::Join` joined, `{LogicalId}`, `{Id.Attr}`, `{AWS::Region}`), for readable comparisons. */
export function flatten(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flatten);
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if ('Ref' in object) return `{${String(object['Ref'])}}`;
    if ('Fn::GetAtt' in object) return `{${(object['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Select' in object) {
      const [index, list] = object['Fn::Select'] as [number, unknown];
      return `{Select(${index}, ${String(flatten(list))})}`;
    }
    if ('Fn::Split' in object) {
      const [separator, text] = object['Fn::Split'] as [string, unknown];
      return `Split('${separator}', ${String(flatten(text))})`;
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => String(flatten(part))).join(separator);
    }
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, flatten(inner)]));
  }
  return value;
}
