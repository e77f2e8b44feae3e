/**
 * The fleet console's entry: four views in one page, chosen by the URL's fragment so that each
 * can be bookmarked and the browser's Back works — `#/fleet`, `#/rollout`, `#/run/{id}`,
 * `#/operation/{server}/{id}`. Only the shown view refreshes; on a change of view the focus
 * moves to its heading, so keyboard and screen-reader users land where the content is.
 */
import { readToken, saveToken } from './api.js';
import { buildSkeleton, byId } from './dom.js';
import { hideFleetView, setUpFleetView, showFleetView } from './fleet-view.js';
import { hideOperationView, setUpOperationView, showOperationView } from './operation-view.js';
import { setUpRolloutView, showRolloutView } from './rollout-view.js';
import { hideRunView, setUpRunView, showRunView } from './run-view.js';

const VIEWS = ['fleet', 'rollout', 'run', 'operation'];
let shown = '';

/** @returns {{ view: string, args: string[] } | null} */
function parseHash() {
  if (!location.hash.startsWith('#/')) return null;
  const [view = '', ...args] = location.hash
    .slice(2)
    .split('/')
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  if (view === 'run' && args.length === 1 && args[0]) return { view, args };
  if (view === 'operation' && args.length === 2 && args[0] && args[1]) return { view, args };
  if (view === 'fleet' || view === 'rollout') return { view, args: [] };
  return { view: 'fleet', args: [] };
}

function route() {
  const parsed = parseHash();
  // A fragment that is not a view (the skip link's #main) leaves the view as it is.
  if (!parsed && shown) return;
  const { view, args } = parsed ?? { view: 'fleet', args: [] };
  hideFleetView();
  hideRunView();
  hideOperationView();
  for (const name of VIEWS) byId(`view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll('nav a[data-view]')) {
    const current =
      link.getAttribute('data-view') === view ||
      (view === 'run' && link.getAttribute('data-view') === 'rollout');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (view === 'fleet') showFleetView();
  else if (view === 'rollout') void showRolloutView();
  else if (view === 'run') showRunView(args[0] ?? '');
  else showOperationView(args[0] ?? '', args[1] ?? '');
  const title = byId(`view-${view}`).querySelector('h1');
  document.title = `${title?.textContent ?? view} · CloudIQ fleet console`;
  if (shown) title?.focus();
  shown = view;
}

function setUpToken() {
  const input = /** @type {HTMLInputElement} */ (byId('token'));
  input.value = readToken();
  byId('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    saveToken(input.value.trim());
    route();
  });
  byId('token-forget').addEventListener('click', () => {
    input.value = '';
    saveToken('');
  });
}

buildSkeleton();
setUpToken();
setUpFleetView();
setUpRolloutView();
setUpRunView();
setUpOperationView();
window.addEventListener('hashchange', route);
route();
