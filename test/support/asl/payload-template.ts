/**
 * Payload templates (Parameters, ItemSelector, ResultSelector, a Map's ItemReader/ResultWriter
 * Parameters): a key ending in `.$` takes the value of a path into the input, of `$$` into the
 * context object, or of an intrinsic function; other values are copied as they are.
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
 */
import { runtimeError } from './errors.ts';
import { evaluateIntrinsic, isIntrinsic } from './intrinsics.ts';
import { readPath } from './json-path.ts';

export interface Scope {
  input: unknown;
  context: unknown;
  random: () => number;
}

/** Evaluates a `.$` value: a path, a `$$` context path, or an intrinsic function. */
export function evaluateExpression(expression: unknown, scope: Scope, field: string): unknown {
  if (typeof expression !== 'string') throw runtimeError(`The value of '${field}' must be a path string`);
  if (expression.startsWith('$$')) return readPath(scope.context, expression.slice(1));
  if (expression.startsWith('$')) return readPath(scope.input, expression);
  if (isIntrinsic(expression)) return evaluateIntrinsic(expression, scope);
  throw runtimeError(`The value of '${field}' is neither a path nor an intrinsic function: ${expression}`);
}

/** The template with every `.$` field replaced by its value. */
export function evaluateTemplate(template: unknown, scope: Scope): unknown {
  if (Array.isArray(template)) return template.map((t) => evaluateTemplate(t, scope));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      const name = key.slice(0, -2);
      if (Object.hasOwn(out, name)) throw runtimeError(`Duplicate field '${name}' in payload template`);
      out[name] = evaluateExpression(value, scope, key);
    } else {
      out[key] = evaluateTemplate(value, scope);
    }
  }
  return out;
}
