/**
 * One operation on one host (`GET /servers/{s}/operations/{id}`, SPEC 2.5's journal): command,
 * arguments, status, times, error, and each hook step with its exit code and output (the last
 * 4 KiB the host kept). A running operation is read again every 1.5 s until it ends. A failed
 * step's output is open from the start; the others open on demand and stay as the reader left them.
 */
import { path, request } from './api.js';
import { byId, fact, h, replaceKeepingFocus, setText, showError, stateBadge } from './dom.js';
import { describeError, describeState, elapsedBetween, formatTime } from './format.js';
import { createPoller } from './poller.js';

const REFRESH_MS = 1_500;

/** @type {ReturnType<typeof createPoller> | undefined} */
let poller;
let target = { server: '', id: '' };
/** Steps whose output the reader opened or closed: their choice outlives a refresh. */
const chosen = new Map();

/** @param {any} step */
const stepState = (step) =>
  step.exitCode === null || step.exitCode === undefined
    ? 'running'
    : step.exitCode === 0
      ? 'succeeded'
      : 'failed';

/** @param {any} journal */
function render(journal) {
  const status = describeState(journal.status);
  setText(byId('operation-status'), `${status.symbol} ${status.text}: ${journal.command}`);
  byId('operation-status').className = `big tone-${status.tone}`;
  const args = Object.entries(journal.args ?? {})
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
  const error = journal.error ? describeError(journal.error) : undefined;
  byId('operation-facts').replaceChildren(
    ...fact('Host', target.server),
    ...fact('Operation', h('code', {}, journal.id)),
    ...fact('Command', h('code', {}, `${journal.command}${args ? ` ${args}` : ''}`)),
    ...fact('Started', formatTime(journal.startedAt)),
    ...fact('Finished', journal.finishedAt ? formatTime(journal.finishedAt) : 'still running'),
    ...fact('Elapsed', elapsedBetween(journal.startedAt, journal.finishedAt, Date.now())),
    ...fact('Process', journal.pid ? `pid ${journal.pid}` : '–'),
    ...(error
      ? fact('Error', [
          h('span', { class: 'error-text' }, error.title),
          ...error.details.map((line) => h('span', { class: 'sub' }, line)),
        ])
      : []),
  );
  const steps = journal.steps ?? [];
  replaceKeepingFocus(
    byId('operation-steps'),
    steps.length === 0
      ? [
          h(
            'p',
            {},
            journal.status === 'running' ? 'No hook has started yet.' : 'This operation ran no hook.',
          ),
        ]
      : steps.map((/** @type {any} */ step, /** @type {number} */ index) => {
          const state = stepState(step);
          const key = `${index}`;
          const open = chosen.has(key) ? chosen.get(key) : state === 'failed';
          const details = h(
            'details',
            { class: 'output', open },
            h('summary', {}, `Output of ${step.product} ${step.action}`),
            h('pre', { tabindex: '0' }, step.output ? step.output : '(no output)'),
          );
          details.addEventListener('toggle', () =>
            chosen.set(key, /** @type {HTMLDetailsElement} */ (details).open),
          );
          return h(
            'section',
            {
              class: 'step',
              'data-step': index,
              'data-state': state,
              'aria-label': `Step ${index + 1}: ${step.product} ${step.action}`,
            },
            h(
              'h3',
              {},
              `${index + 1}. ${step.product} · ${step.action} `,
              stateBadge(describeState(state)),
              step.exitCode === null || step.exitCode === undefined ? '' : ` exit ${step.exitCode}`,
            ),
            h(
              'p',
              { class: 'sub' },
              `${formatTime(step.startedAt)} → ${step.finishedAt ? formatTime(step.finishedAt) : 'running'} (${elapsedBetween(step.startedAt, step.finishedAt, Date.now())})`,
            ),
            details,
          );
        }),
  );
}

async function refresh() {
  const { server, id } = target;
  try {
    const journal = await request(path('servers', server, 'operations', id));
    if (server !== target.server || id !== target.id) return;
    byId('operation-error').hidden = true;
    render(journal);
    if (journal.status !== 'running') poller?.stop();
  } catch (error) {
    if (server !== target.server || id !== target.id) return;
    showError(byId('operation-error'), 'Cannot read this operation', error);
    // A refusal (no such operation, unknown server) will not change by asking again.
    if (/** @type {any} */ (error).status >= 400 && /** @type {any} */ (error).status < 500) poller?.stop();
    else throw error;
  }
}

export function setUpOperationView() {
  poller = createPoller({ task: refresh, interval: REFRESH_MS, maxInterval: 30_000 });
}

/**
 * @param {string} server
 * @param {string} id
 */
export function showOperationView(server, id) {
  poller?.stop();
  target = { server, id };
  chosen.clear();
  setText(byId('operation-title'), `Operation ${id} on ${server}`);
  setText(byId('operation-status'), 'Reading…');
  byId('operation-facts').replaceChildren();
  byId('operation-steps').replaceChildren();
  byId('operation-error').hidden = true;
  poller?.start();
}

export function hideOperationView() {
  poller?.stop();
}
