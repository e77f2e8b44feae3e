/**
 * Choice rules: every comparison operator and its `Path` variant, And/Or/Not, the Is* tests and
 * StringMatches. A comparison of the wrong type is false (not an error); a Variable that is not
 * in the input is States.Runtime, except under IsPresent.
 * https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
 */
import { NotImplementedError, runtimeError } from './errors.ts';
import { hasPath, readPath } from './json-path.ts';

type Rule = Record<string, unknown>;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export const isTimestamp = (v: unknown): v is string =>
  typeof v === 'string' && TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v));

type Kind = 'String' | 'Numeric' | 'Boolean' | 'Timestamp';
const KINDS: Kind[] = ['String', 'Numeric', 'Boolean', 'Timestamp'];
const OPS = ['Equals', 'LessThan', 'GreaterThan', 'LessThanEquals', 'GreaterThanEquals'] as const;
type Op = (typeof OPS)[number];

const ofKind = (kind: Kind, v: unknown): boolean =>
  kind === 'String'
    ? typeof v === 'string'
    : kind === 'Numeric'
      ? typeof v === 'number'
      : kind === 'Boolean'
        ? typeof v === 'boolean'
        : isTimestamp(v);

function compare(kind: Kind, op: Op, a: unknown, b: unknown): boolean {
  if (!ofKind(kind, a) || !ofKind(kind, b)) return false;
  if (kind === 'Boolean') return op === 'Equals' && a === b;
  const x = kind === 'Timestamp' ? Date.parse(a as string) : (a as string | number);
  const y = kind === 'Timestamp' ? Date.parse(b as string) : (b as string | number);
  switch (op) {
    case 'Equals':
      return x === y;
    case 'LessThan':
      return x < y;
    case 'GreaterThan':
      return x > y;
    case 'LessThanEquals':
      return x <= y;
    case 'GreaterThanEquals':
      return x >= y;
  }
}

/** `*` matches any run of characters; `\*` and `\\` stand for themselves. */
function stringMatches(value: string, pattern: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escapeRegex(pattern[++i]!);
    else if (c === '*') source += '.*';
    else source += escapeRegex(c);
  }
  return new RegExp(`^${source}$`, 's').test(value);
}
const escapeRegex = (c: string) => c.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

const NON_OPERATORS = new Set(['Variable', 'Next', 'Comment']);

/** Whether a Choice rule (top-level or nested) matches the input. */
export function evaluateRule(rule: Rule, input: unknown, context: unknown): boolean {
  if (Array.isArray(rule.And)) return rule.And.every((r: Rule) => evaluateRule(r, input, context));
  if (Array.isArray(rule.Or)) return rule.Or.some((r: Rule) => evaluateRule(r, input, context));
  if (rule.Not) return !evaluateRule(rule.Not as Rule, input, context);
  for (const field of ['Condition', 'Assign', 'Output']) {
    if (rule[field] !== undefined) throw new NotImplementedError(`Choice rule field ${field}`);
  }
  const operators = Object.keys(rule).filter((k) => !NON_OPERATORS.has(k));
  if (operators.length !== 1)
    throw runtimeError(`Choice rule needs exactly one operator: ${JSON.stringify(rule)}`);
  const operator = operators[0]!;
  const operand = rule[operator];
  const variable = rule.Variable;
  if (typeof variable !== 'string') throw runtimeError('Choice rule without Variable');
  const read = (path: string) =>
    path.startsWith('$$') ? readPath(context, path.slice(1)) : readPath(input, path);
  const present = (path: string) =>
    path.startsWith('$$') ? hasPath(context, path.slice(1)) : hasPath(input, path);
  if (operator === 'IsPresent') return present(variable) === operand;
  const value = read(variable);
  switch (operator) {
    case 'IsNull':
      return (value === null) === operand;
    case 'IsNumeric':
      return (typeof value === 'number') === operand;
    case 'IsString':
      return (typeof value === 'string') === operand;
    case 'IsBoolean':
      return (typeof value === 'boolean') === operand;
    case 'IsTimestamp':
      return isTimestamp(value) === operand;
    case 'StringMatches':
      return typeof value === 'string' && typeof operand === 'string' && stringMatches(value, operand);
  }
  for (const kind of KINDS) {
    for (const op of OPS) {
      if (operator === `${kind}${op}`) return compare(kind, op, value, operand);
      if (operator === `${kind}${op}Path`) return compare(kind, op, value, read(operand as string));
    }
  }
  throw new NotImplementedError(`Choice operator ${operator}`);
}
