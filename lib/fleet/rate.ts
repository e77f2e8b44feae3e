/**
 * Rate control of a fleet run (SPEC 4), in the words of SSM's Run Command: `maxConcurrency` and
 * `maxErrors` are a count or a percentage of the targets ("25%"), and so is `canary`.
 *
 * Rounding of percentages (SSM documents "10% of 50 targets stops at the sixth error", that is
 * 5 allowed, and nothing for fractions; we round as CloudFormation documents for StackSets):
 * - maxConcurrency: down, but at least 1 — "50%" of 5 targets runs 2 at a time;
 * - maxErrors: down — "25%" of 6 targets allows 1 failure and stops at the 2nd; "10%" of 5
 *   allows none. Rounding down never tolerates more failures than the share the operator named;
 * - canary: up, at most the target count — a non-zero percentage always means at least one canary.
 * Values are SSM's patterns: integers, percentages 0–100% without decimals (concurrency and
 * canary percentages from 1%, as a 0% concurrency would never run anything).
 */
import { BootstrapError } from '../errors.ts';

/** A count (`3`, `"3"`) or a percentage of the targets (`"25%"`). */
export type RateValue = number | string;

export const DEFAULT_MAX_CONCURRENCY = 10;
export const DEFAULT_MAX_ERRORS = 0;
export const DEFAULT_CANARY = 1;

/** What the operator asked for; absent fields take the defaults of SPEC 4. */
export interface RateControlInput {
  maxConcurrency?: RateValue | undefined;
  maxErrors?: RateValue | undefined;
  canary?: RateValue | undefined;
}

/** The same, as plain counts for one run over `total` targets. */
export interface RateControl {
  maxConcurrency: number;
  maxErrors: number;
  canary: number;
}

type Field = 'maxConcurrency' | 'maxErrors' | 'canary';

interface ParsedRate {
  kind: 'count' | 'percent';
  value: number;
}

const COUNT = /^(0|[1-9][0-9]*)$/;
const PERCENT = /^(0|[1-9][0-9]?|100)%$/;

/** Parses one rate value without resolving it, so that a bad value is refused before any host is reached. */
export function parseRateValue(field: Field, raw: RateValue): ParsedRate {
  const parsed = parseRaw(raw);
  if (!parsed) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      `${field} must be a whole number or a percentage from 0% to 100% (got ${JSON.stringify(raw)})`,
      { field, value: raw },
    );
  }
  if (field === 'maxConcurrency' && parsed.value === 0) {
    throw new BootstrapError('INVALID_REQUEST', `maxConcurrency must be at least 1 or 1%`, {
      field,
      value: raw,
    });
  }
  return parsed;
}

function parseRaw(raw: RateValue): ParsedRate | undefined {
  if (typeof raw === 'number') {
    return Number.isSafeInteger(raw) && raw >= 0 ? { kind: 'count', value: raw } : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (COUNT.test(text)) {
    const value = Number(text);
    return Number.isSafeInteger(value) ? { kind: 'count', value } : undefined;
  }
  if (PERCENT.test(text)) return { kind: 'percent', value: Number(text.slice(0, -1)) };
  return undefined;
}

/** Checks every given field of a request (API body, CLI flags) and throws `INVALID_REQUEST` on the first bad one. */
export function validateRateControl(input: RateControlInput): void {
  for (const field of ['maxConcurrency', 'maxErrors', 'canary'] as const) {
    const raw = input[field];
    if (raw !== undefined) parseRateValue(field, raw);
  }
}

/** Turns the operator's values into counts for a run over `total` targets, with SPEC 4's defaults. */
export function resolveRateControl(input: RateControlInput, total: number): RateControl {
  const concurrency = resolveField('maxConcurrency', input.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY, total);
  const errors = resolveField('maxErrors', input.maxErrors ?? DEFAULT_MAX_ERRORS, total);
  const canary = resolveField('canary', input.canary ?? DEFAULT_CANARY, total);
  return { maxConcurrency: concurrency, maxErrors: errors, canary: Math.min(canary, total) };
}

function resolveField(field: Field, raw: RateValue, total: number): number {
  const parsed = parseRateValue(field, raw);
  if (parsed.kind === 'count') return parsed.value;
  const share = (parsed.value * total) / 100;
  switch (field) {
    case 'maxConcurrency':
      return Math.max(1, Math.floor(share));
    case 'maxErrors':
      return Math.floor(share);
    case 'canary':
      return Math.ceil(share);
  }
}
