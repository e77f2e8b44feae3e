/**
 * How the console words what the API answers: every state has a symbol and a word, so it reads
 * without colour; times and durations are short and stable. Pure functions, unit-tested.
 */

/** @type {Readonly<Record<string, { symbol: string, text: string, tone: string }>>} */
const STATES = Object.freeze({
  healthy: { symbol: '✔', text: 'healthy', tone: 'good' },
  degraded: { symbol: '▲', text: 'degraded', tone: 'warn' },
  down: { symbol: '✖', text: 'down', tone: 'bad' },
  unreachable: { symbol: '⊘', text: 'unreachable', tone: 'bad' },
  error: { symbol: '!', text: 'error', tone: 'bad' },
  unknown: { symbol: '?', text: 'not read yet', tone: 'muted' },
  unhealthy: { symbol: '✖', text: 'unhealthy', tone: 'bad' },
  running: { symbol: '⟳', text: 'running', tone: 'busy' },
  checking: { symbol: '⟳', text: 'hook done, finishing', tone: 'busy' },
  pending: { symbol: '…', text: 'pending', tone: 'muted' },
  succeeded: { symbol: '✔', text: 'succeeded', tone: 'good' },
  partial: { symbol: '◐', text: 'partial', tone: 'warn' },
  failed: { symbol: '✖', text: 'failed', tone: 'bad' },
  skipped: { symbol: '↷', text: 'skipped', tone: 'muted' },
  passed: { symbol: '✔', text: 'passed', tone: 'good' },
  ended: { symbol: '■', text: 'ended short', tone: 'warn' },
  none: { symbol: '–', text: 'none', tone: 'muted' },
});

/**
 * The symbol, word and tone (a CSS class suffix) of a state; an unknown state keeps its own word.
 * @param {string} state
 * @returns {{ symbol: string, text: string, tone: string }}
 */
export function describeState(state) {
  return STATES[state] ?? { symbol: '?', text: String(state), tone: 'muted' };
}

/**
 * A duration as people read it: `0s`, `42s`, `3m 07s`, `2h 03m`; negative spans are `0s`.
 * @param {number} ms
 * @returns {string}
 */
export function formatElapsed(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * The time between two ISO stamps (the second one absent: until `now`), or '' when the start is
 * missing or unreadable.
 * @param {string | null | undefined} startedAt
 * @param {string | null | undefined} finishedAt
 * @param {number} now
 * @returns {string}
 */
export function elapsedBetween(startedAt, finishedAt, now) {
  const start = startedAt ? Date.parse(startedAt) : Number.NaN;
  if (Number.isNaN(start)) return '';
  const end = finishedAt ? Date.parse(finishedAt) : now;
  return formatElapsed((Number.isNaN(end) ? now : end) - start);
}

/**
 * An ISO stamp as `YYYY-MM-DD HH:MM:SS UTC` (hosts write UTC; one zone avoids guessing), or '–'.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function formatTime(iso) {
  if (!iso) return '–';
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return String(iso);
  return `${new Date(time).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Error codes that mean the host was not reached (SPEC 2.6's transport codes). */
export const UNREACHABLE_CODES = Object.freeze([
  'UNREACHABLE',
  'AUTH_FAILED',
  'HOST_KEY_MISMATCH',
  'TRANSPORT_TIMEOUT',
]);

/**
 * A host's health from its heartbeat answer, or from the error its heartbeat request got.
 * @param {{ appstack?: { status?: string } } | undefined} answer
 * @param {{ code?: string } | undefined} error
 * @returns {string}
 */
export function hostHealth(answer, error) {
  if (error) return UNREACHABLE_CODES.includes(error.code ?? '') ? 'unreachable' : 'error';
  const status = answer?.appstack?.status;
  return status === 'healthy' || status === 'degraded' || status === 'down' ? status : 'unknown';
}

/**
 * How many hosts are in each health state (always the four of SPEC 7.2, plus any other seen).
 * @param {readonly string[]} states
 * @returns {Record<string, number>}
 */
export function countStates(states) {
  /** @type {Record<string, number>} */
  const counts = { healthy: 0, degraded: 0, down: 0, unreachable: 0 };
  for (const state of states) counts[state] = (counts[state] ?? 0) + 1;
  return counts;
}

/**
 * The failing checks of a `heartbeat.appstack` answer, one line each: `haproxy: tcp:… (refused)`.
 * @param {{ products?: Record<string, { checks?: { check: string, ok: boolean, detail?: string }[] }> } | undefined} appstack
 * @returns {string[]}
 */
export function failingChecks(appstack) {
  const lines = [];
  for (const [product, report] of Object.entries(appstack?.products ?? {})) {
    for (const check of report.checks ?? []) {
      if (!check.ok) lines.push(`${product}: ${check.check}${check.detail ? ` (${check.detail})` : ''}`);
    }
  }
  return lines;
}

/**
 * An API error (SPEC 2.6's `{ code, message, details }`) as one line, details as `key: value`.
 * @param {{ code?: string, message?: string, details?: Record<string, unknown>, status?: number }} error
 * @returns {{ title: string, details: string[] }}
 */
export function describeError(error) {
  const title = `${error.code ?? 'ERROR'}${error.status ? ` (HTTP ${error.status})` : ''}: ${error.message ?? 'no message'}`;
  const details = Object.entries(error.details ?? {})
    .filter(([key]) => key !== 'journal')
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return { title, details };
}
