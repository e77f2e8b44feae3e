/**
 * The one way the console builds markup: elements with attributes and children, where every
 * string becomes a text node. API text never passes through innerHTML, so a host name or a
 * hook's output can hold `<script>` and stays text.
 */
import { describeError } from './format.js';

/**
 * An element `tag` with `attributes` (`false`/`null`/`undefined` leave one out, `true` sets it
 * empty) and `children` (strings become text nodes; null and false are skipped).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attributes]
 * @param {...(Node | string | null | undefined | false | (Node | string | null | undefined | false)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/**
 * @param {Element} parent
 * @param {(Node | string | null | undefined | false | (Node | string | null | undefined | false)[])[]} children
 */
function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/**
 * Sets an element's text only when it changes, so live regions announce changes, not repeats.
 * @param {Element} element
 * @param {string} text
 */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * A state as symbol and word (the symbol hidden from screen readers, which read the word).
 * @param {{ symbol: string, text: string, tone: string }} described
 * @returns {HTMLElement}
 */
export function stateBadge(described) {
  return h(
    'span',
    { class: `state tone-${described.tone}` },
    h('span', { class: 'symbol', 'aria-hidden': 'true' }, described.symbol),
    ' ',
    described.text,
  );
}

/**
 * A term and its description, for a `<dl>`.
 * @param {string} term
 * @param {Node | string | (Node | string)[]} description
 */
export function fact(term, description) {
  return [h('dt', {}, term), h('dd', {}, ...(Array.isArray(description) ? description : [description]))];
}

/**
 * Shows an error (SPEC 2.6's shape, or anything thrown) in `box`, after `lead`, details below.
 * @param {HTMLElement} box
 * @param {string} lead
 * @param {any} error
 */
export function showError(box, lead, error) {
  const described = describeError(error ?? {});
  box.replaceChildren(
    h('p', {}, `${lead} — ${described.title}`),
    ...described.details.map((line) => h('p', { class: 'sub' }, line)),
  );
  box.hidden = false;
}

/**
 * Replaces `container`'s children; the keyboard focus, when it was on a link, a summary or a
 * scrollable output inside, goes to the same one in the new children, so a refresh does not
 * throw a keyboard user back to the top of the page.
 * @param {Element} container
 * @param {Node[]} children
 */
export function replaceKeepingFocus(container, children) {
  const focused = document.activeElement;
  let selector = '';
  if (focused && container.contains(focused)) {
    const step = focused.closest('[data-step]')?.getAttribute('data-step');
    const href = focused.getAttribute('href');
    if (href) selector = `a[href="${CSS.escape(href)}"]`;
    else if (step !== null && step !== undefined)
      selector = `[data-step="${step}"] ${focused.tagName.toLowerCase()}`;
  }
  container.replaceChildren(...children);
  if (selector) /** @type {HTMLElement | null} */ (container.querySelector(selector))?.focus();
}

/**
 * The element with this id (the page's skeleton is index.html; a missing one is a bug).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`index.html has no #${id}`);
  return element;
}

/**
 * Fills in what index.html writes once for several places: each report view's head
 * (`section[data-report]`: its heading, status line, facts and error box, cloned from
 * `<template id="report-head">` with ids `{view}-title`, `{view}-status`, …) and each table's
 * header row (`table[data-columns]`, `|`-separated). Runs once, before the views are set up.
 */
export function buildSkeleton() {
  const head = /** @type {HTMLTemplateElement} */ (byId('report-head'));
  for (const view of document.querySelectorAll('section[data-report]')) {
    const name = view.id.replace(/^view-/, '');
    const parts = /** @type {DocumentFragment} */ (head.content.cloneNode(true));
    for (const part of parts.querySelectorAll('[data-part]'))
      part.id = `${name}-${part.getAttribute('data-part')}`;
    setText(/** @type {Element} */ (parts.firstElementChild), view.getAttribute('data-report') ?? name);
    view.prepend(parts);
  }
  for (const table of document.querySelectorAll('table[data-columns]')) {
    const columns = (table.getAttribute('data-columns') ?? '').split('|');
    /** @type {HTMLTableElement} */ (table)
      .createTHead()
      .append(h('tr', {}, ...columns.map((column) => h('th', { scope: 'col' }, column))));
  }
}
