/**
 * JSONPath as Step Functions uses it. Reference paths (`$.a.b[0]['c d']`, one node) are parsed
 * here, once per distinct text, because they run on every state of every item; paths with
 * wildcards, filters, slices or `..` go to `jsonpath-plus` and answer an array of matches.
 * https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html
 */
import { JSONPath } from 'jsonpath-plus';
import { runtimeError, StatesError } from './errors.ts';

type Segment = string | number;
const parsed = new Map<string, Segment[] | null>();

/** The segments of a reference path, or null when the path may select several nodes. */
export function parseReferencePath(path: string): Segment[] | null {
  const known = parsed.get(path);
  if (known !== undefined) return known;
  const result = parse(path);
  parsed.set(path, result);
  return result;
}

function parse(path: string): Segment[] | null {
  if (!path.startsWith('$')) throw runtimeError(`Invalid path '${path}': must start with '$'`);
  const out: Segment[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i]!;
    if (c === '.') {
      if (path[i + 1] === '.') return null;
      const m = /^[^.[\]]+/.exec(path.slice(i + 1));
      if (!m) throw runtimeError(`Invalid path '${path}'`);
      if (m[0] === '*') return null;
      out.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const close = path.indexOf(']', i);
      if (close === -1) throw runtimeError(`Invalid path '${path}'`);
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) out.push(Number(inner));
      else if (/^'[^']*'$/.test(inner) || /^"[^"]*"$/.test(inner)) out.push(inner.slice(1, -1));
      else return null;
      i = close + 1;
    } else {
      throw runtimeError(`Invalid path '${path}'`);
    }
  }
  return out;
}

const MISSING = Symbol('missing');

function walk(data: unknown, segments: Segment[]): unknown {
  let at: unknown = data;
  for (const s of segments) {
    if (typeof s === 'number') {
      if (!Array.isArray(at) || s >= at.length) return MISSING;
      at = at[s];
    } else {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, s)) return MISSING;
      at = (at as Record<string, unknown>)[s];
    }
  }
  return at;
}

/** Whether a reference path selects a node (Choice's IsPresent). */
export function hasPath(data: unknown, path: string): boolean {
  const segments = parseReferencePath(path);
  if (segments) return walk(data, segments) !== MISSING;
  return JSONPath({ path, json: data as object, wrap: true }).length > 0;
}

/**
 * The value a path selects; a path that selects nothing is States.Runtime, as AWS fails the
 * execution ("The JSONPath ... could not be found in the input").
 */
export function readPath(data: unknown, path: string): unknown {
  const segments = parseReferencePath(path);
  if (segments) {
    const value = walk(data, segments);
    if (value === MISSING) {
      throw runtimeError(`The JSONPath '${path}' could not be found in the input '${preview(data)}'`);
    }
    return value;
  }
  return JSONPath({ path, json: data as object, wrap: true }) as unknown[];
}

/**
 * `data` with `value` placed at a reference path (ResultPath): objects on the way are copied,
 * not mutated, so earlier states' values stay as they were; a missing field is created, a
 * non-object on the way is States.ResultPathMatchFailure.
 */
export function writePath(data: unknown, path: string, value: unknown): unknown {
  const segments = parseReferencePath(path);
  if (!segments) throw runtimeError(`ResultPath '${path}' must be a reference path`);
  return put(data, segments, 0, value, path);
}

function put(node: unknown, segments: Segment[], at: number, value: unknown, path: string): unknown {
  if (at === segments.length) return value;
  const s = segments[at]!;
  if (typeof s === 'number') {
    if (!Array.isArray(node) || s >= node.length) throw resultPathFailure(path);
    const copy = node.slice();
    copy[s] = put(node[s], segments, at + 1, value, path);
    return copy;
  }
  if (node === undefined || node === null) {
    if (at === 0) throw resultPathFailure(path);
    node = {};
  }
  if (typeof node !== 'object' || Array.isArray(node)) throw resultPathFailure(path);
  const record = node as Record<string, unknown>;
  return { ...record, [s]: put(record[s], segments, at + 1, value, path) };
}

const resultPathFailure = (path: string) =>
  new StatesError(
    'States.ResultPathMatchFailure',
    `Unable to apply ResultPath '${path}' to the state's input`,
  );

export const preview = (data: unknown) => {
  const text = JSON.stringify(data) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};
