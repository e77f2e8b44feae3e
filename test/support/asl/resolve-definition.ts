/**
 * Turns a synthesized CloudFormation template's state machine into its ASL object. The
 * `DefinitionString` (a string, `Fn::Join`, `Fn::Sub`) is resolved with every token replaced by
 * a recognisable placeholder naming the logical id, then `DefinitionSubstitutions` applied, as
 * CloudFormation would: a function's ARN becomes
 * `arn:aws:lambda:sim:000000000000:function:<LogicalId>` (its Ref: `<LogicalId>`), a bucket's or
 * table's Ref `<LogicalId>`, so that Task invocations route to handlers by logical id.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-stepfunctions-statemachine.html
 */
import { NotImplementedError } from './errors.ts';

type Template = {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Parameters?: Record<string, { Default?: unknown }>;
};

const ACCOUNT = '000000000000';
const REGION = 'sim';
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'Stack',
  'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/Stack/sim`,
  'AWS::NoValue': '',
};

/** The placeholder ARN `resolveDefinition` gives a Lambda function's `Fn::GetAtt [id, Arn]`. */
export const functionArn = (logicalId: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${logicalId}`;

/** The logical id in a placeholder function ARN (or a bare logical id, as Ref gives it). */
export function logicalIdOf(functionNameOrArn: string): string {
  const m = /^arn:aws:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(functionNameOrArn);
  return m ? m[1]! : functionNameOrArn;
}

/** Logical ids of the template's state machines. */
export function findStateMachines(template: object): string[] {
  const resources = (template as Template).Resources ?? {};
  return Object.keys(resources).filter((id) => resources[id]!.Type === 'AWS::StepFunctions::StateMachine');
}

/**
 * The ASL object of a state machine in a synthesized template. `logicalId` may be the exact
 * logical id or a unique prefix of it (CDK appends a hash); omitted, the template's only one.
 */
export function resolveDefinition(template: object, logicalId?: string): Record<string, unknown> {
  const t = template as Template;
  const machines = findStateMachines(t);
  const matches =
    logicalId === undefined
      ? machines
      : machines.includes(logicalId)
        ? [logicalId]
        : machines.filter((id) => id.startsWith(logicalId));
  if (matches.length !== 1) {
    throw new Error(
      `resolveDefinition: ${matches.length} state machines match '${logicalId ?? '*'}' among [${machines.join(', ')}]`,
    );
  }
  const props = t.Resources![matches[0]!]!.Properties ?? {};
  if (props.DefinitionString === undefined)
    throw new NotImplementedError(
      'a state machine without DefinitionString (Definition, DefinitionS3Location)',
    );
  let text = resolveToken(t, props.DefinitionString);
  const substitutions = (props.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
  text = text.replace(/\$\{([^}]+)\}/g, (whole, key: string) =>
    Object.hasOwn(substitutions, key) ? resolveToken(t, substitutions[key]) : whole,
  );
  return JSON.parse(text) as Record<string, unknown>;
}

function resolveToken(t: Template, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const list = resolveList(t, value);
  if (list !== undefined)
    throw new Error(`resolveDefinition: a list where a string is needed: ${JSON.stringify(value)}`);
  const token = value as Record<string, unknown>;
  const [fn] = Object.keys(token);
  const arg = token[fn!];
  switch (fn) {
    case 'Ref':
      return ref(t, arg as string);
    case 'Fn::GetAtt': {
      const [id, attr] = typeof arg === 'string' ? arg.split(/\.(.+)/) : (arg as string[]);
      return getAtt(t, id!, resolveToken(t, attr));
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown];
      return (resolveList(t, parts) ?? []).join(separator);
    }
    case 'Fn::Sub': {
      const [body, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
      return body.replace(/\$\{(!?)([^}]+)\}/g, (_whole, bang: string, name: string) => {
        if (bang) return `\${${name}}`;
        if (Object.hasOwn(vars, name)) return resolveToken(t, vars[name]);
        const [id, attr] = name.split(/\.(.+)/);
        return attr === undefined ? ref(t, id!) : getAtt(t, id!, attr);
      });
    }
    case 'Fn::Select': {
      const [index, items] = arg as [unknown, unknown];
      const all = resolveList(t, items) ?? [];
      return all[Number(resolveToken(t, index))] ?? '';
    }
    default:
      throw new NotImplementedError(`CloudFormation token ${String(fn)} in a state machine definition`);
  }
}

function resolveList(t: Template, value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.map((v) => resolveToken(t, v));
  if (value && typeof value === 'object' && 'Fn::Split' in value) {
    const [separator, text] = (value as { 'Fn::Split': [string, unknown] })['Fn::Split'];
    return resolveToken(t, text).split(separator);
  }
  if (value && typeof value === 'object' && 'Fn::GetAZs' in value) return [`${REGION}a`, `${REGION}b`];
  return undefined;
}

function ref(t: Template, id: string): string {
  if (Object.hasOwn(PSEUDO, id)) return PSEUDO[id]!;
  const parameter = t.Parameters?.[id];
  if (parameter) return parameter.Default === undefined ? id : String(parameter.Default);
  const type = t.Resources?.[id]?.Type;
  if (type === undefined) throw new Error(`resolveDefinition: Ref to unknown '${id}'`);
  if (type === 'AWS::StepFunctions::StateMachine')
    return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${id}`;
  if (type === 'AWS::SNS::Topic') return `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`;
  if (type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`;
  return id;
}

function getAtt(t: Template, id: string, attr: string): string {
  const type = t.Resources?.[id]?.Type;
  if (type === undefined) throw new Error(`resolveDefinition: Fn::GetAtt of unknown '${id}'`);
  const service = type.split('::')[1]!.toLowerCase();
  switch (`${type}.${attr}`) {
    case 'AWS::Lambda::Function.Arn':
      return functionArn(id);
    case 'AWS::S3::Bucket.Arn':
      return `arn:aws:s3:::${id}`;
    case 'AWS::DynamoDB::Table.Arn':
      return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`;
    case 'AWS::StepFunctions::StateMachine.Arn':
      return ref(t, id);
    case 'AWS::StepFunctions::StateMachine.Name':
      return id;
    case 'AWS::SQS::Queue.Arn':
      return `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`;
    case 'AWS::SQS::Queue.QueueName':
      return id;
    case 'AWS::IAM::Role.Arn':
      return `arn:aws:iam::${ACCOUNT}:role/${id}`;
    case 'AWS::SNS::Topic.TopicArn':
      return ref(t, id);
  }
  if (attr === 'Arn') return `arn:aws:${service}:${REGION}:${ACCOUNT}:${id}`;
  return `${id}.${attr}`;
}
