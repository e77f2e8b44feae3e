/**
 * Small bodies on the wire (SPEC 5 v2): an aggregated result over 1 MiB keeps every target that
 * did not succeed and as many succeeded ones as fit, marked `truncated`, with `resultUrl` pointing
 * at the whole result. Each target is serialised once and the body's size added up from the
 * parts (JSON.stringify writes an array as its items joined by commas), so 10,000 targets cost
 * one pass, not one re-serialisation per target.
 */
import type { FleetResult, TargetReport } from './aggregate.ts';

/** SPEC 5's cap on a callback body: 1 MiB. */
export const MAX_RESULT_BYTES = 1024 * 1024;

/** The result as it goes on the wire: whole, or cut down and pointing at the whole. */
export type FittedResult = FleetResult & { truncated?: true; resultUrl?: string };

export interface FitResultOptions {
  /** Largest body, in UTF-8 bytes of its JSON; default 1 MiB. */
  maxBytes?: number;
  /** Where the whole result is (an S3 pre-signed URL, or `/fleet/operations/{operationId}` locally). */
  resultUrl: string;
}

/** Longest error message kept (in code points) once the unshortened failures would not fit. */
const SHORT_MESSAGE = 200;

type Shrink = (target: TargetReport) => TargetReport;

/**
 * The failures shortened step by step until they fit: whole; without `details`; messages cut to
 * 200 characters; messages emptied. `server`, `status` and `error.code` are always kept.
 */
const SHRINKS: Shrink[] = [
  (target) => target,
  (target) => ('error' in target ? { ...target, error: { ...target.error, details: {} } } : target),
  (target) =>
    'error' in target
      ? { ...target, error: { code: target.error.code, message: cut(target.error.message), details: {} } }
      : target,
  (target) =>
    'error' in target ? { ...target, error: { code: target.error.code, message: '', details: {} } } : target,
];

/**
 * `result` itself when its JSON is at most `maxBytes`; otherwise the same result with `targets`
 * cut down (in selection order) to every target that did not succeed — shortened as `SHRINKS`
 * says if they do not fit whole, and as many of them as fit if even their codes do not — then the
 * succeeded ones that still fit, in selection order up to the first that does not, with
 * `truncated: true` and `resultUrl`. Throws a RangeError only when the result without any
 * target is already larger than `maxBytes`.
 */
export function fitResult(result: FleetResult, options: FitResultOptions): FittedResult {
  const maxBytes = options.maxBytes ?? MAX_RESULT_BYTES;
  const sizes = result.targets.map(bytesOf);
  const whole = bytesOf({ ...result, targets: [] }) + itemsBytes(sizes);
  if (whole <= maxBytes) return result;

  const shell: FittedResult = { ...result, targets: [], truncated: true, resultUrl: options.resultUrl };
  const budget = maxBytes - bytesOf(shell);
  if (budget < 0) {
    throw new RangeError(`the result of ${result.operationId} exceeds ${maxBytes} bytes without any target`);
  }
  const unsucceeded: number[] = [];
  const succeeded: number[] = [];
  result.targets.forEach((target, index) => {
    (target.status === 'succeeded' ? succeeded : unsucceeded).push(index);
  });

  const chosen = new Map<number, TargetReport>();
  let used = 0;
  const take = (index: number, target: TargetReport, size: number): boolean => {
    const cost = size + (chosen.size > 0 ? 1 : 0);
    if (used + cost > budget) return false;
    used += cost;
    chosen.set(index, target);
    return true;
  };

  const failures = fitFailures(result.targets, unsucceeded, sizes, budget);
  for (const { index, target, size } of failures) {
    if (!take(index, target, size)) break;
  }
  if (failures.length === unsucceeded.length) {
    for (const index of succeeded) {
      if (!take(index, result.targets[index] as TargetReport, sizes[index] as number)) break;
    }
  }
  const targets = [...chosen.keys()].sort((a, b) => a - b).map((index) => chosen.get(index) as TargetReport);
  return { ...shell, targets };
}

interface Sized {
  index: number;
  target: TargetReport;
  size: number;
}

/**
 * The targets that did not succeed, at the first step of `SHRINKS` at which all of them fit in
 * `budget`; at the last step, when even that is too much, as many as fit in selection order.
 */
function fitFailures(
  targets: readonly TargetReport[],
  indexes: readonly number[],
  sizes: readonly number[],
  budget: number,
): Sized[] {
  let shrunk: Sized[] = [];
  for (const [step, shrink] of SHRINKS.entries()) {
    shrunk = indexes.map((index) => {
      const target = step === 0 ? (targets[index] as TargetReport) : shrink(targets[index] as TargetReport);
      return { index, target, size: step === 0 ? (sizes[index] as number) : bytesOf(target) };
    });
    if (itemsBytes(shrunk.map((entry) => entry.size)) <= budget) return shrunk;
  }
  const fitting: Sized[] = [];
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
