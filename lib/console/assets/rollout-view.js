/**
 * The rollout form: `POST /fleet/upgrade`'s fields, with the targets the selector picks and the
 * rate control as counts shown before anything starts (resolved here from `GET /servers`, as the
 * server will resolve them). A started rollout's plan is kept in sessionStorage for its run view.
 */
import { request } from './api.js';
import { byId, h, setText, showError } from './dom.js';
import { knownProducts } from './fleet-view.js';
import { parseRate, resolveRates, resolveSelector } from './plan.js';
import { savePlan } from './run-view.js';

/** @type {{ name: string, groups: string[] }[]} */
let servers = [];

const RATE_FIELDS = /** @type {const} */ ([
  ['maxConcurrency', 'rollout-concurrency'],
  ['maxErrors', 'rollout-errors'],
  ['canary', 'rollout-canary'],
]);

/** @param {string} id */
const value = (id) => /** @type {HTMLInputElement} */ (byId(id)).value.trim();

/**
 * The form as a request body and the plan it resolves to, or the problems, field by field.
 * @param {boolean} forSubmit
 */
function readForm(forSubmit) {
  /** @type {{ field: string, message: string }[]} */
  const problems = [];
  const select = value('rollout-select');
  const resolved = select === '' ? undefined : resolveSelector(servers, select);
  if (select === '') problems.push({ field: 'rollout-select', message: 'Selector: required' });
  else if (resolved && !resolved.ok)
    problems.push({ field: 'rollout-select', message: `Selector: ${resolved.code}: ${resolved.message}` });
  if (forSubmit && value('rollout-product') === '')
    problems.push({ field: 'rollout-product', message: 'Product: required' });
  if (forSubmit && value('rollout-version') === '')
    problems.push({ field: 'rollout-version', message: 'Version: required' });
  /** @type {Record<string, number | string | undefined>} */
  const rates = {};
  for (const [field, id] of RATE_FIELDS) {
    const parsed = parseRate(field, value(id));
    if (parsed.ok) rates[field] = parsed.value;
    else problems.push({ field: id, message: parsed.message });
  }
  const healthGate = /** @type {HTMLInputElement} */ (byId('rollout-gate')).checked;
  return { select, resolved, rates, healthGate, problems };
}

function updatePreview() {
  const { resolved, rates, problems } = readForm(false);
  const list = byId('preview-targets');
  const summary = byId('preview-summary');
  if (!resolved?.ok || problems.length > 0) {
    list.replaceChildren();
    setText(
      summary,
      problems.length > 0
        ? `✖ ${problems.map((p) => p.message).join('; ')}`
        : 'Type a selector to see the hosts it picks.',
    );
    return;
  }
  const total = resolved.targets.length;
  const counts = resolveRates(rates, total);
  list.replaceChildren(
    ...resolved.targets.map((name, index) =>
      h(
        'li',
        { 'data-server': name },
        name,
        index < counts.canary ? h('span', { class: 'tag' }, 'canary') : '',
      ),
    ),
    ...resolved.unresolved.map((item) =>
      h('li', {}, `${item} (resolved by the server when the rollout starts)`),
    ),
  );
  const canary =
    counts.canary > 0 ? `${counts.canary} canary target(s) one by one first, ` : 'no canary stage, ';
  setText(
    summary,
    `${total} host(s): ${canary}then up to ${counts.maxConcurrency} at a time; ` +
      `stops starting targets after ${counts.maxErrors + 1} failure(s) (maxErrors ${counts.maxErrors}).`,
  );
}

/** @param {SubmitEvent} event */
async function submit(event) {
  event.preventDefault();
  const box = byId('rollout-error');
  const form = readForm(true);
  for (const element of byId('rollout-form').querySelectorAll('[aria-invalid]'))
    element.removeAttribute('aria-invalid');
  if (form.problems.length > 0) {
    for (const problem of form.problems) byId(problem.field).setAttribute('aria-invalid', 'true');
    box.replaceChildren(
      h('p', {}, 'Not started:'),
      h('ul', { class: 'problems' }, ...form.problems.map((p) => h('li', {}, p.message))),
    );
    box.hidden = false;
    byId(form.problems[0]?.field ?? 'rollout-select').focus();
    return;
  }
  const body = {
    select: form.select,
    product: value('rollout-product'),
    version: value('rollout-version'),
    ...Object.fromEntries(Object.entries(form.rates).filter(([, rate]) => rate !== undefined)),
    healthGate: form.healthGate,
  };
  const button = /** @type {HTMLButtonElement} */ (byId('rollout-start'));
  button.disabled = true;
  try {
    const answer = await request('fleet/upgrade', { method: 'POST', body });
    const targets = form.resolved?.ok ? form.resolved.targets : [];
    const counts = resolveRates(form.rates, targets.length);
    savePlan(answer.operationId, { ...body, targets, canary: counts.canary, maxErrors: counts.maxErrors });
    box.hidden = true;
    location.hash = `#/run/${encodeURIComponent(answer.operationId)}`;
  } catch (error) {
    showError(box, 'Not started', error);
  } finally {
    button.disabled = false;
  }
}

/** Wires the form once. */
export function setUpRolloutView() {
  const form = byId('rollout-form');
  form.addEventListener('input', updatePreview);
  form.addEventListener('submit', (event) => void submit(/** @type {SubmitEvent} */ (event)));
}

/** Shown: the server list is read again, so the preview resolves against the current inventory. */
export async function showRolloutView() {
  const box = byId('rollout-error');
  try {
    servers = (await request('servers')).servers;
  } catch (error) {
    showError(box, 'Cannot list the servers', error);
  }
  byId('rollout-products').replaceChildren(...knownProducts().map((name) => h('option', { value: name })));
  updatePreview();
}
