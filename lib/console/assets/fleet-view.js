/**
 * The fleet view: every host of `GET /servers` with what `GET /servers/{s}/heartbeat` says of it
 * (mode, role, appstack status and its failing checks, product versions, the lock's holder, the
 * last operation), the counts by health at the top, filters by group and status. It refreshes on
 * its own through the poller (one refresh at a time; backoff while the API fails); a host whose
 * heartbeat fails is a row in error, not a failed refresh.
 */
import { path, request } from './api.js';
import { byId, h, replaceKeepingFocus, setText, showError, stateBadge } from './dom.js';
import {
  countStates,
  describeError,
  describeState,
  failingChecks,
  formatTime,
  hostHealth,
} from './format.js';
import { createPoller } from './poller.js';

const REFRESH_MS = 10_000;
/** Heartbeats read at once: each one runs the checks on its host, so the page stays gentle. */
const HEARTBEAT_CONCURRENCY = 4;

/**
 * @typedef {{ name: string, groups: string[], transport: string | null }} ServerEntry (transport null: the host's inventory section is malformed)
 * @typedef {{ server: ServerEntry, health: string, answer?: any, error?: any }} HostRow
 */

/** @type {HostRow[]} */
let rows = [];
/** @type {ServerEntry[]} */
let servers = [];
let refreshedAt = 0;
/** @type {ReturnType<typeof createPoller> | undefined} */
let poller;

/** The servers of the last refresh (the rollout form resolves selectors against them). */
export async function loadServers() {
  if (servers.length === 0) servers = (await request('servers')).servers;
  return servers;
}

/** The products seen in heartbeats, for the rollout form's suggestions. */
export function knownProducts() {
  const names = new Set();
  for (const row of rows)
    for (const name of Object.keys(row.answer?.heartbeat?.products ?? {})) names.add(name);
  return [...names].sort();
}

/**
 * Runs `work` over `items` with at most `limit` at once.
 * @template T
 * @param {readonly T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<void>} work
 */
async function eachLimited(items, limit, work) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(/** @type {T} */ (item));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

async function refresh() {
  servers = (await request('servers')).servers;
  /** @type {HostRow[]} */
  const fresh = servers.map((server) => ({ server, health: 'unknown' }));
  await eachLimited(fresh, HEARTBEAT_CONCURRENCY, async (row) => {
    try {
      row.answer = await request(`${path('servers', row.server.name, 'heartbeat')}`);
    } catch (error) {
      row.error = error;
    }
    row.health = hostHealth(row.answer, row.error);
  });
  rows = fresh;
  refreshedAt = Date.now();
  byId('fleet-error').hidden = true;
  render();
}

function renderGroups() {
  const select = /** @type {HTMLSelectElement} */ (byId('filter-group'));
  const groups = [...new Set(servers.flatMap((server) => server.groups))].sort();
  const current = select.value;
  const options = [
    h('option', { value: '' }, 'all groups'),
    ...groups.map((group) => h('option', { value: group }, group)),
  ];
  const same =
    select.options.length === options.length &&
    groups.every((group, index) => select.options[index + 1]?.value === group);
  if (!same) {
    select.replaceChildren(...options);
    select.value = groups.includes(current) ? current : '';
  }
}

function render() {
  renderGroups();
  const counts = countStates(rows.map((row) => row.health));
  byId('fleet-counts').replaceChildren(
    ...Object.entries(counts)
      .filter(([state, count]) => count > 0 || ['healthy', 'degraded', 'down', 'unreachable'].includes(state))
      .map(([state, count]) => {
        const described = describeState(state);
        return h(
          'li',
          { class: `count tone-${described.tone}`, 'data-state': state },
          h('span', { class: 'symbol', 'aria-hidden': 'true' }, described.symbol),
          ' ',
          h('strong', {}, String(count)),
          ` ${described.text}`,
        );
      }),
  );
  const group = /** @type {HTMLSelectElement} */ (byId('filter-group')).value;
  const status = /** @type {HTMLSelectElement} */ (byId('filter-status')).value;
  const shown = rows.filter(
    (row) => (group === '' || row.server.groups.includes(group)) && (status === '' || row.health === status),
  );
  setText(
    byId('fleet-caption'),
    `${shown.length} of ${rows.length} hosts${group ? ` in group ${group}` : ''}${status ? `, ${status}` : ''}`,
  );
  replaceKeepingFocus(byId('fleet-body'), shown.map(hostRow));
  renderRefreshState();
}

/** @param {HostRow} row */
function hostRow(row) {
  const heartbeat = row.answer?.heartbeat;
  const name = row.server.name;
  const products = Object.entries(heartbeat?.products ?? {}).map(([product, state]) =>
    h(
      'li',
      {},
      `${product} ${state.version ?? '–'}`,
      state.status ? h('span', { class: 'sub' }, state.status) : '',
    ),
  );
  const failing = failingChecks(row.answer?.appstack);
  const lock = heartbeat?.lock;
  const last = heartbeat?.lastOperation;
  const error = row.error ? describeError(row.error) : undefined;
  return h(
    'tr',
    { 'data-server': name, 'data-health': row.health },
    h('th', { scope: 'row' }, name, h('span', { class: 'sub' }, row.server.transport)),
    h('td', {}, row.server.groups.join(', ') || '–'),
    h('td', {}, heartbeat?.mode ?? '–'),
    h('td', {}, heartbeat?.role ?? '–'),
    h(
      'td',
      {},
      stateBadge(describeState(row.health)),
      failing.length > 0 &&
        h(
          'ul',
          { class: 'checks', 'aria-label': 'Failing checks' },
          ...failing.map((line) => h('li', {}, line)),
        ),
      error && h('p', { class: 'error-text' }, error.title),
    ),
    h('td', {}, products.length > 0 ? h('ul', { class: 'plain' }, ...products) : '–'),
    h(
      'td',
      {},
      lock
        ? [
            h(
              'span',
              { class: 'state tone-busy' },
              h('span', { class: 'symbol', 'aria-hidden': 'true' }, '⊠'),
              ' held',
            ),
            h(
              'span',
              { class: 'sub' },
              `${lock.command} · pid ${lock.pid} · since ${formatTime(lock.started_at)}`,
            ),
            h('a', { href: `#/operation/${path(name, lock.operation)}` }, lock.operation),
          ]
        : 'free',
    ),
    h(
      'td',
      {},
      last
        ? [
            h('a', { href: `#/operation/${path(name, last.id)}` }, last.command),
            ' ',
            stateBadge(describeState(last.status)),
            h('span', { class: 'sub' }, last.finishedAt ? formatTime(last.finishedAt) : 'not finished'),
          ]
        : '–',
    ),
  );
}

function renderRefreshState() {
  if (!poller) return;
  const state = poller.state();
  const when = refreshedAt ? `Last read ${formatTime(new Date(refreshedAt).toISOString())}` : 'Not read yet';
  const next = state.stopped
    ? ''
    : state.running
      ? ' · reading…'
      : ` · next in ${Math.round(state.nextDelay / 1000)} s`;
  const failing = state.failures > 0 ? ` · ${state.failures} failed refresh(es), backing off` : '';
  setText(byId('fleet-status'), `${when}${next}${failing}`);
  const button = /** @type {HTMLButtonElement} */ (byId('fleet-refresh'));
  button.disabled = state.running;
  if (state.lastError) showError(byId('fleet-error'), 'Refresh failed', state.lastError);
}

/** Wires the filters and the refresh button once. */
export function setUpFleetView() {
  poller = createPoller({
    task: refresh,
    interval: REFRESH_MS,
    maxInterval: 5 * 60_000,
    onState: renderRefreshState,
  });
  byId('filter-group').addEventListener('change', render);
  byId('filter-status').addEventListener('change', render);
  byId('fleet-refresh').addEventListener('click', () => void poller?.refreshNow());
  document.addEventListener('visibilitychange', () => {
    // A hidden tab does not read the fleet; it catches up when it is shown again.
    if (!poller || byId('view-fleet').hidden) return;
    if (document.hidden) poller.stop();
    else poller.start();
  });
}

/** Shown: refreshing starts (at once) and goes on until hidden. */
export function showFleetView() {
  poller?.start();
}

export function hideFleetView() {
  poller?.stop();
}
