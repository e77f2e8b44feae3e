// Types of format.js for the TypeScript tests (the page itself has no build step).
export interface DescribedState {
  symbol: string;
  text: string;
  tone: string;
}
export function describeState(state: string): DescribedState;
export function formatElapsed(ms: number): string;
export function elapsedBetween(
  startedAt: string | null | undefined,
  finishedAt: string | null | undefined,
  now: number,
): string;
export function formatTime(iso: string | null | undefined): string;
export const UNREACHABLE_CODES: readonly string[];
export function hostHealth(
  answer: { appstack?: { status?: string } } | undefined,
  error: { code?: string } | undefined,
): string;
export function countStates(states: readonly string[]): Record<string, number>;
export function failingChecks(
  appstack:
    | { products?: Record<string, { checks?: { check: string; ok: boolean; detail?: string }[] }> }
    | undefined,
): string[];
export function describeError(error: {
  code?: string;
  message?: string;
  details?: Record<string, unknown>;
  status?: number;
}): { title: string; details: string[] };
