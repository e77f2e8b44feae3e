/**
 * A rollout, live: `GET /fleet/operations/{id}` every second (backing off while it fails) until
 * the run ends, each target's state, the canary stage, failures against maxErrors, the skipped
 * targets and the elapsed time. Targets the run has not reported yet are read a few at a time
 * (`GET /servers/{s}/heartbeat`) to tell a running target from a pending one. Every target that
 * has a journal links to it (a fleet run's targets run under its id): from a failed target, its
 * hook's output is one click away.
 */
import { path, request } from './api.js';
import { byId, fact, h, replaceKeepingFocus, setText, showError, stateBadge } from './dom.js';
import { describeState, elapsedBetween, formatTime } from './format.js';
import { createPoller } from './poller.js';
import { deriveRun } from './run-state.js';

const REFRESH_MS = 1_000;
/** At most this many unreported targets are read per refresh (in rollout order). */
const PROBES = 8;
const PLAN_PREFIX = 'cloudiq-run:';

/** @type {ReturnType<typeof createPoller> | undefined} */
let poller;
let operationId = '';

/**
 * Remembers what the form resolved for a started run (this tab only).
 * @param {string} id
 * @param {Record<string, unknown>} plan
 */
export function savePlan(id, plan) {
  try {
    sessionStorage.setItem(PLAN_PREFIX + id, JSON.stringify(plan));
  } catch {
    // Storage full or refused: the run view then shows the targets as the run reports them.
  }
}

/** @param {string} id */
function loadPlan(id) {
  try {
    const text = sessionStorage.getItem(PLAN_PREFIX + id);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/**
 * Where the targets not reported yet stand, from their heartbeats: the lock held by this run's id
 * is a running target; this id as the last operation, a target whose hook ended (`failed`, or
 * `checking` while the health gate and the report follow); else pending. Heartbeats, not journals: a target that has not started has no journal, and asking
 * for it would be an error answer for every pending target at every refresh.
 * @param {string} id
 * @param {any} record
 * @param {any} plan
 */
async function readProgress(id, record, plan) {
  /** @type {Record<string, string>} */
  const progress = {};
  if (!plan || record.status !== 'running') return progress;
  const reported = new Set((record.targets ?? []).map((/** @type {any} */ report) => report.server));
  const waiting = plan.targets
    .filter((/** @type {string} */ server) => !reported.has(server))
    .slice(0, PROBES);
  await Promise.all(
    waiting.map(async (/** @type {string} */ server) => {
      try {
        const { heartbeat } = await request(path('servers', server, 'heartbeat'));
        const last = heartbeat?.lastOperation;
        if (heartbeat?.lock?.operation === id) progress[server] = 'running';
        else if (last?.id === id) progress[server] = last.status === 'failed' ? 'failed' : 'checking';
        else progress[server] = 'pending';
      } catch {
        progress[server] = 'pending';
      }
    }),
  );
  return progress;
}

async function refresh() {
  const id = operationId;
  try {
    const record = await request(path('fleet', 'operations', id));
    const plan = loadPlan(id);
    const progress = await readProgress(id, record, plan);
    if (id !== operationId) return;
    byId('run-error').hidden = true;
    render(record, plan, progress);
    if (record.status !== 'running') poller?.stop();
  } catch (error) {
    if (id !== operationId) return;
    showError(byId('run-error'), 'Cannot read this rollout', error);
    throw error;
  }
}

/**
 * @param {any} record
 * @param {any} plan
 * @param {Record<string, string>} progress
 */
function render(record, plan, progress) {
  const run = deriveRun(record, plan, progress);
  const status = describeState(record.status);
  const args = record.args ?? {};
  setText(
    byId('run-status'),
    `${status.symbol} ${status.text}: ${args.product ?? '?'} to ${args.version ?? '?'}`,
  );
  byId('run-status').className = `big tone-${status.tone}`;
  const canary = run.canary
    ? [
        stateBadge(describeState(run.canary.state)),
        ` — ${run.canary.succeeded} of ${run.canary.needed} succeeded${run.canary.server ? ` (${run.canary.server})` : ''}`,
      ]
    : 'unknown (this rollout was not started from this tab)';
  const over = run.maxErrors !== null && run.failures > run.maxErrors;
  const failures =
    run.maxErrors === null
      ? `${run.failures}`
      : `${run.failures} of at most ${run.maxErrors} allowed${over ? ' — exceeded: no new target starts' : ''}`;
  const summary = record.summary
    ? `${record.summary.succeeded} succeeded, ${record.summary.failed} failed, ${record.summary.unreachable} unreachable, ${record.summary.skipped} skipped of ${record.summary.total}`
    : 'when the run ends';
  byId('run-facts').replaceChildren(
    ...fact('Operation', h('code', {}, record.operationId ?? operationId)),
    ...(plan ? fact('Selector', h('code', {}, plan.select)) : []),
    ...fact('Started', formatTime(record.startedAt)),
    ...fact('Finished', record.finishedAt ? formatTime(record.finishedAt) : 'still running'),
    ...fact('Elapsed', elapsedBetween(record.startedAt, record.finishedAt, Date.now())),
    ...fact('Canary stage', canary),
    ...fact('Failures', failures),
    ...fact('Skipped', run.skipped.length > 0 ? run.skipped.join(', ') : 'none'),
    ...fact('Summary', summary),
    ...(record.waiting
      ? fact(
          'Waiting',
          `since ${formatTime(record.waiting.since)} for the worker's concurrency, held by ${
            record.waiting.holders.length > 0 ? record.waiting.holders.join(', ') : 'other runs'
          }: no target starts until this run is granted units`,
        )
      : []),
  );
  replaceKeepingFocus(
    byId('run-body'),
    run.rows.map((row, index) =>
      h(
        'tr',
        { 'data-server': row.server, 'data-state': row.state },
        h('td', {}, String(index + 1)),
        h('th', { scope: 'row' }, row.server),
        h('td', {}, row.phase || '–'),
        h('td', {}, stateBadge(describeState(row.state))),
        h('td', {}, row.error ? `${row.error.code}: ${row.error.message}` : ''),
        h(
          'td',
          {},
          row.hasJournal
            ? h(
                'a',
                { href: `#/operation/${path(row.server, record.operationId ?? operationId)}` },
                `${row.server} journal`,
              )
            : '–',
        ),
      ),
    ),
  );
  if (run.rows.length === 0) {
    byId('run-body').replaceChildren(
      h('tr', {}, h('td', { colspan: 6 }, 'Targets appear here as the run reports them.')),
    );
  }
}

export function setUpRunView() {
  poller = createPoller({ task: refresh, interval: REFRESH_MS, maxInterval: 30_000 });
}

/** @param {string} id */
export function showRunView(id) {
  poller?.stop();
  operationId = id;
  setText(byId('run-title'), `Rollout ${id}`);
  setText(byId('run-status'), 'Reading…');
  byId('run-facts').replaceChildren();
  byId('run-body').replaceChildren();
  byId('run-error').hidden = true;
  poller?.start();
}

export function hideRunView() {
  poller?.stop();
}
