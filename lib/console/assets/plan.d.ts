// Types of plan.js for the TypeScript tests (the page itself has no build step).
export type SelectorResolution =
  | { ok: true; targets: string[]; unresolved: string[] }
  | { ok: false; code: string; message: string };
export function resolveSelector(
  servers: readonly { name: string; groups: readonly string[] }[],
  selector: string,
): SelectorResolution;
export const DEFAULT_RATES: Readonly<{ maxConcurrency: number; maxErrors: number; canary: number }>;
export type RateField = 'maxConcurrency' | 'maxErrors' | 'canary';
export function parseRate(
  field: RateField,
  raw: string | number | undefined,
): { ok: true; value: number | string | undefined } | { ok: false; message: string };
export function resolveRates(
  rates: Partial<Record<RateField, number | string | undefined>>,
  total: number,
): { maxConcurrency: number; maxErrors: number; canary: number };
