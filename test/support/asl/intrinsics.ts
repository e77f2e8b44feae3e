/**
 * Intrinsic functions (`States.Format(...)` in a `.$` field, ResultSelector, Fail's ErrorPath):
 * parsed once per text, evaluated over the state's input and the context object. Any error is
 * States.Runtime, as AWS fails the execution. Semantics and examples:
 * https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
 */
import { createHash, randomUUID } from 'node:crypto';
import { runtimeError } from './errors.ts';
import { readPath } from './json-path.ts';

type Arg =
  | { kind: 'literal'; value: unknown }
  | { kind: 'path'; path: string; context: boolean }
  | { kind: 'call'; name: string; args: Arg[] };

export interface IntrinsicScope {
  input: unknown;
  context: unknown;
  random: () => number;
}

const cache = new Map<string, Arg>();

export function isIntrinsic(text: string): boolean {
  return text.startsWith('States.');
}

/** Evaluates one intrinsic function call. */
export function evaluateIntrinsic(text: string, scope: IntrinsicScope): unknown {
  let ast = cache.get(text);
  if (!ast) {
    const parser = new Parser(text);
    ast = parser.call();
    parser.end();
    cache.set(text, ast);
  }
  return evaluate(ast, scope);
}

class Parser {
  at = 0;
  constructor(readonly text: string) {}
  fail(): never {
    throw runtimeError(`Invalid intrinsic function '${this.text}' at ${this.at}`);
  }
  space(): void {
    while (this.text[this.at] === ' ') this.at++;
  }
  end(): void {
    this.space();
    if (this.at !== this.text.length) this.fail();
  }
  call(): Arg {
    const m = /^States\.[A-Za-z0-9]+/.exec(this.text.slice(this.at));
    if (!m) this.fail();
    this.at += m[0].length;
    if (this.text[this.at] !== '(') this.fail();
    this.at++;
    const args: Arg[] = [];
    this.space();
    if (this.text[this.at] === ')') {
      this.at++;
      return { kind: 'call', name: m[0], args };
    }
    for (;;) {
      this.space();
      args.push(this.arg());
      this.space();
      const c = this.text[this.at++];
      if (c === ')') return { kind: 'call', name: m[0], args };
      if (c !== ',') this.fail();
    }
  }
  arg(): Arg {
    const rest = this.text.slice(this.at);
    if (rest.startsWith("'")) return { kind: 'literal', value: this.string() };
    if (rest.startsWith('States.')) return this.call();
    if (rest.startsWith('$')) {
      // A path runs to the next top-level ',' or ')' (brackets may hold either).
      let depth = 0;
      let i = this.at;
      for (; i < this.text.length; i++) {
        const c = this.text[i];
        if (c === '[' || c === '(') depth++;
        else if (c === ']' || (c === ')' && depth > 0)) depth--;
        else if ((c === ',' || c === ')') && depth === 0) break;
      }
      const path = this.text.slice(this.at, i).trim();
      this.at = i;
      return path.startsWith('$$')
        ? { kind: 'path', path: path.slice(1), context: true }
        : { kind: 'path', path, context: false };
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(rest);
    if (!m) this.fail();
    this.at += m[0].length;
    return { kind: 'literal', value: JSON.parse(m[0]) };
  }
  /** A single-quoted string; `\'`, `\{`, `\}` and `\\` keep their backslash for States.Format. */
  string(): string {
    this.at++;
    let out = '';
    for (;;) {
      const c = this.text[this.at++];
      if (c === undefined) this.fail();
      if (c === "'") return out;
      if (c === '\\') {
        const next = this.text[this.at++];
        if (next === undefined) this.fail();
        out += next === "'" ? "'" : `\\${next}`;
      } else out += c;
    }
  }
}

function evaluate(arg: Arg, scope: IntrinsicScope): unknown {
  if (arg.kind === 'literal') return typeof arg.value === 'string' ? dropEscapes(arg.value) : arg.value;
  if (arg.kind === 'path') return readPath(arg.context ? scope.context : scope.input, arg.path);
  if (arg.name === 'States.Format') {
    const [template, ...rest] = arg.args;
    if (template?.kind !== 'literal' || typeof template.value !== 'string') {
      throw runtimeError('States.Format needs a string literal template');
    }
    return format(
      template.value,
      rest.map((a) => evaluate(a, scope)),
    );
  }
  const fn = functions[arg.name];
  if (!fn) throw runtimeError(`Unknown intrinsic function ${arg.name}`);
  return fn(
    arg.args.map((a) => evaluate(a, scope)),
    scope,
  );
}

const dropEscapes = (s: string) => s.replace(/\\(.)/g, '$1');

function format(template: string, values: unknown[]): string {
  let out = '';
  let next = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && i + 1 < template.length) out += template[++i];
    else if (c === '{' && template[i + 1] === '}') {
      if (next >= values.length) throw runtimeError('States.Format: more {} than arguments');
      const v = values[next++];
      if (v !== null && typeof v === 'object') throw runtimeError('States.Format arguments must be scalars');
      out += String(v);
      i++;
    } else out += c;
  }
  if (next !== values.length) throw runtimeError('States.Format: more arguments than {}');
  return out;
}

function expect<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw runtimeError(`Invalid argument: ${what}`);
  return value;
}
const int = (v: unknown, what: string) =>
  expect(Number.isInteger(v), v as number, `${what} must be an integer`);
const arr = (v: unknown, what: string) =>
  expect(Array.isArray(v), v as unknown[], `${what} must be an array`);
const str = (v: unknown, what: string) =>
  expect(typeof v === 'string', v as string, `${what} must be a string`);
const count = (a: unknown[], n: number, name: string) =>
  expect(a.length === n, a, `${name} takes ${n} arguments, got ${a.length}`);

const HASHES: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

const functions: Record<string, (a: unknown[], scope: IntrinsicScope) => unknown> = {
  'States.StringToJson': (a) => {
    try {
      return JSON.parse(str(count(a, 1, 'States.StringToJson')[0], 'argument'));
    } catch (error) {
      if (error instanceof SyntaxError) throw runtimeError(`States.StringToJson: ${error.message}`);
      throw error;
    }
  },
  'States.JsonToString': (a) => JSON.stringify(count(a, 1, 'States.JsonToString')[0]),
  'States.Array': (a) => a,
  'States.ArrayPartition': (a) => {
    const [array, size] = count(a, 2, 'States.ArrayPartition');
    const n = int(size, 'chunk size');
    expect(n > 0, 0, 'chunk size must be positive');
    const items = arr(array, 'first argument');
    const out: unknown[][] = [];
    for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
    return out;
  },
  'States.ArrayContains': (a) => {
    const [array, value] = count(a, 2, 'States.ArrayContains');
    const needle = JSON.stringify(value);
    return arr(array, 'first argument').some((v) => JSON.stringify(v) === needle);
  },
  'States.ArrayRange': (a) => {
    const [start, end, step] = count(a, 3, 'States.ArrayRange').map((v, i) => int(v, `argument ${i + 1}`));
    expect(step !== 0, 0, 'step must not be 0');
    const out: number[] = [];
    for (let v = start!; step! > 0 ? v <= end! : v >= end!; v += step!) {
      out.push(v);
      expect(out.length <= 1000, 0, 'States.ArrayRange is limited to 1000 elements');
    }
    return out;
  },
  'States.ArrayGetItem': (a) => {
    const [array, index] = count(a, 2, 'States.ArrayGetItem');
    const items = arr(array, 'first argument');
    const i = int(index, 'index');
    expect(i >= 0 && i < items.length, 0, `index ${i} out of bounds`);
    return items[i];
  },
  'States.ArrayLength': (a) => arr(count(a, 1, 'States.ArrayLength')[0], 'argument').length,
  'States.ArrayUnique': (a) => {
    const seen = new Set<string>();
    return arr(count(a, 1, 'States.ArrayUnique')[0], 'argument').filter((v) => {
      const key = JSON.stringify(v);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  },
  'States.Base64Encode': (a) =>
    Buffer.from(str(count(a, 1, 'States.Base64Encode')[0], 'argument'), 'utf8').toString('base64'),
  'States.Base64Decode': (a) =>
    Buffer.from(str(count(a, 1, 'States.Base64Decode')[0], 'argument'), 'base64').toString('utf8'),
  'States.Hash': (a) => {
    const [data, algorithm] = count(a, 2, 'States.Hash');
    const name = HASHES[str(algorithm, 'algorithm')];
    if (!name) throw runtimeError(`States.Hash: unknown algorithm ${String(algorithm)}`);
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    return createHash(name).update(text).digest('hex');
  },
  'States.JsonMerge': (a) => {
    const [left, right, deep] = count(a, 3, 'States.JsonMerge');
    // AWS supports only the shallow merge; `true` is rejected.
    expect(deep === false, 0, 'States.JsonMerge supports only shallow merges (false)');
    const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    expect(isObject(left) && isObject(right), 0, 'States.JsonMerge merges two objects');
    return { ...(left as object), ...(right as object) };
  },
  'States.MathRandom': (a, scope) => {
    expect(a.length === 2 || a.length === 3, 0, 'States.MathRandom takes 2 or 3 arguments');
    const start = int(a[0], 'start');
    const end = int(a[1], 'end');
    return start + Math.floor(scope.random() * (end - start));
  },
  'States.MathAdd': (a) => {
    const [x, y] = count(a, 2, 'States.MathAdd').map((v, i) => int(v, `argument ${i + 1}`));
    return x! + y!;
  },
  'States.StringSplit': (a) => {
    const [text, delimiters] = count(a, 2, 'States.StringSplit').map((v, i) => str(v, `argument ${i + 1}`));
    // Each character of the second argument is a delimiter; empty parts are dropped.
    const chars = [...delimiters!].map((c) => c.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&')).join('');
    return chars ? text!.split(new RegExp(`[${chars}]`)).filter((s) => s !== '') : [text];
  },
  'States.UUID': (a) => {
    count(a, 0, 'States.UUID');
    return randomUUID();
  },
};
