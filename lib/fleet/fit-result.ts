/**
 * Small bodies on the wire (SPEC 5 v2): an aggregated result over 1 MiB keeps every target that
 * did not succeed and as many succeeded ones as fit, marked `truncated`, with `resultUrl` pointing
 * at the whole result. Each target is serialised once and the body's size added up from the
 * parts (JSON.stringify writes an array as its items joined by commas), so 10,000 targets cost
 * one pass, not one re-serialisation per target. The same cut serves every aggregated body that
 * goes to a callback: a fleet run's `targets` (`fitResult`) and the heartbeat report's `hosts`
 * (`fitList`, from steps/heartbeat.ts), so the two cannot drift apart.
 */
import type { ErrorBody } from '../errors.ts';
import type { FleetResult, TargetReport } from './aggregate.ts';

/** SPEC 5's cap on a callback body: 1 MiB. */
export const MAX_RESULT_BYTES = 1024 * 1024;

/** What a cut body adds: `truncated` and where the whole is. */
export interface Cut {
  truncated?: true;
  resultUrl?: string;
}

/** The result as it goes on the wire: whole, or cut down and pointing at the whole. */
export type FittedResult = FleetResult & Cut;

/** An entry of the list a body is cut down to: a target, or a heartbeat's host. */
interface Entry {
  server: string;
  status: string;
  error?: ErrorBody;
}

export interface FitResultOptions {
  /** Largest body, in UTF-8 bytes of its JSON; default 1 MiB. */
  maxBytes?: number;
  /** Where the whole result is (an S3 pre-signed URL, or `/fleet/operations/{operationId}` locally). */
  resultUrl: string;
}

/** Longest error message kept (in code points) once the unshortened failures would not fit. */
const SHORT_MESSAGE = 200;

type Shrink = <T extends Entry>(target: T) => T;

/**
 * The failures shortened step by step until they fit: whole; without `details`; messages cut to
 * 200 characters; then `server`, `status` and `error.code` alone, which are always kept (a
 * target that did not succeed has nothing else; a heartbeat's host loses its answers and timing).
 */
const SHRINKS: Shrink[] = [
  (target) => target,
  (target) => (target.error ? { ...target, error: { ...target.error, details: {} } } : target),
  (target) =>
    target.error
      ? { ...target, error: { code: target.error.code, message: cut(target.error.message), details: {} } }
      : target,
  <T extends Entry>({ server, status, error }: T) =>
    (error
      ? { server, status, error: { code: error.code, message: '', details: {} } }
      : { server, status }) as T,
];

/** Whether `body` goes on the wire whole: its JSON is at most `maxBytes` (default 1 MiB). */
export function fitsWhole(body: object, maxBytes = MAX_RESULT_BYTES): boolean {
  return bytesOf(body) <= maxBytes;
}

/**
 * `result` itself when its JSON is at most `maxBytes`; otherwise the same result with `targets`
 * cut down (in selection order) to every target that did not succeed — shortened as `SHRINKS`
 * says if they do not fit whole, and as many of them as fit if even their codes do not — then the
 * succeeded ones that still fit, in selection order up to the first that does not, with
 * `truncated: true` and `resultUrl`. Throws a RangeError only when the result without any
 * target is already larger than `maxBytes`.
 */
export function fitResult(result: FleetResult, options: FitResultOptions): FittedResult {
  return fitList(result, 'targets', (target: TargetReport) => target.status === 'succeeded', options);
}

/**
 * `fitResult` over any aggregated body: `body` itself when its JSON is at most `maxBytes`, else
 * its list under `key` cut down the same way, every entry that is not `succeeded` first.
 */
export function fitList<B extends { operationId: string }, T extends Entry>(
  body: B,
  key: keyof B & string,
  succeeded: (entry: T) => boolean,
  options: FitResultOptions,
): B & Cut {
  const maxBytes = options.maxBytes ?? MAX_RESULT_BYTES;
  const entries = body[key] as readonly T[];
  const sizes = entries.map(bytesOf);
  const whole = bytesOf({ ...body, [key]: [] }) + itemsBytes(sizes);
  if (whole <= maxBytes) return body;

  const shell: B & Cut = { ...body, [key]: [], truncated: true, resultUrl: options.resultUrl };
  const budget = maxBytes - bytesOf(shell);
  if (budget < 0) {
    throw new RangeError(`the result of ${body.operationId} exceeds ${maxBytes} bytes without any target`);
  }
  const unsucceeded: number[] = [];
  const successes: number[] = [];
  entries.forEach((entry, index) => {
    (succeeded(entry) ? successes : unsucceeded).push(index);
  });

  const chosen = new Map<number, T>();
  let used = 0;
  const take = (index: number, entry: T, size: number): boolean => {
    const cost = size + (chosen.size > 0 ? 1 : 0);
    if (used + cost > budget) return false;
    used += cost;
    chosen.set(index, entry);
    return true;
  };

  const failures = fitFailures(entries, unsucceeded, sizes, budget);
  for (const { index, target, size } of failures) {
    if (!take(index, target, size)) break;
  }
  if (failures.length === unsucceeded.length) {
    for (const index of successes) {
      if (!take(index, entries[index] as T, sizes[index] as number)) break;
    }
  }
  const list = [...chosen.keys()].sort((a, b) => a - b).map((index) => chosen.get(index) as T);
  return { ...shell, [key]: list };
}

interface Sized<T> {
  index: number;
  target: T;
  size: number;
}

/**
 * The targets that did not succeed, at the first step of `SHRINKS` at which all of them fit in
 * `budget`; at the last step, when even that is too much, as many as fit in selection order.
 */
function fitFailures<T extends Entry>(
  targets: readonly T[],
  indexes: readonly number[],
  sizes: readonly number[],
  budget: number,
): Sized<T>[] {
  let shrunk: Sized<T>[] = [];
  for (const [step, shrink] of SHRINKS.entries()) {
    shrunk = indexes.map((index) => {
      const target = step === 0 ? (targets[index] as T) : shrink(targets[index] as T);
      return { index, target, size: step === 0 ? (sizes[index] as number) : bytesOf(target) };
    });
    if (itemsBytes(shrunk.map((entry) => entry.size)) <= budget) return shrunk;
  }
  const fitting: Sized<T>[] = [];
  let used = 0;
  for (const entry of shrunk) {
    const cost = entry.size + (fitting.length > 0 ? 1 : 0);
    if (used + cost > budget) break;
    used += cost;
    fitting.push(entry);
  }
  return fitting;
}

/** UTF-8 bytes of a value's JSON. */
function bytesOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Bytes that items of these sizes add to an empty array `[]`: the items and the commas between them. */
function itemsBytes(sizes: readonly number[]): number {
  let total = 0;
  for (const size of sizes) total += size;
  return total + Math.max(0, sizes.length - 1);
}

function cut(message: string): string {
  const points = Array.from(message);
  return points.length <= SHORT_MESSAGE ? message : `${points.slice(0, SHORT_MESSAGE).join('')}…`;
}
