// DOM helpers. Every piece of data reaches the page as a text node or an attribute value, never as
// markup: the page shows email bodies and file names written by strangers.

/** Names set as attributes: some have no property (`list` is read-only), some a different one. */
const ATTRIBUTES = new Set(['class', 'for', 'role', 'list', 'scope']);

/**
 * Creates an element. `attributes`: `class`, `for`, `aria-*`, `data-*` and the like become
 * attributes; `on<event>` functions become listeners; other keys (value, checked, hidden…) are
 * set as properties. Children: nodes, strings (as text), arrays, and null/undefined/false (skipped).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (ATTRIBUTES.has(name) || name.includes('-')) element.setAttribute(name, value === true ? '' : String(value));
    else element[name] = value;
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** Rows and cards the page re-renders, by the data attribute that names them. */
const KEYED = '[data-document-id], [data-email-id], [data-dead-letter-id], [data-queue], [data-evaluation-id], [data-question-id]';

function focusKey(element) {
  const owner = element.closest(KEYED);
  return JSON.stringify([owner ? { ...owner.dataset } : null, element.tagName, element.id, element.getAttribute('aria-label') ?? element.textContent]);
}

/**
 * Runs `update` (which re-renders inside `container`) and gives the focus back to the matching
 * control of the new rendering: polling must not throw a keyboard user back to the page's start.
 */
export function keepFocus(container, update) {
  const active = document.activeElement;
  const key = active && active !== container && container.contains(active) ? focusKey(active) : null;
  update();
  if (!key) return;
  for (const candidate of container.querySelectorAll('a, button, input, select, textarea, [tabindex]')) {
    if (focusKey(candidate) === key) {
      candidate.focus();
      return;
    }
  }
}

/** Sets the text of `element` only when it changed, so a live region is not read out again for nothing. */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/** Empties `element` and fills it with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/**
 * A table inside a scrollable, keyboard-focusable region. Each cell carries its column's name in
 * `data-label`, which the narrow layout shows in front of the value: rows become cards on phones,
 * unless `options.cards` is false (tables of numbers read better scrolled sideways).
 */
export function table(caption, headings, rows, options = {}) {
  const body = h('tbody', {}, rows);
  for (const row of body.rows) {
    [...row.cells].forEach((cell, index) => {
      if (cell.colSpan === 1 && headings[index]) cell.dataset.label = headings[index];
    });
  }
  return h(
    'div',
    { class: options.cards === false ? 'table-wrap' : 'table-wrap cards', role: 'region', 'aria-label': caption, tabIndex: 0 },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headings.map((heading) => h('th', { scope: 'col' }, heading)),
        ),
      ),
      body,
    ),
  );
}

/** A `<dl>` of the pairs whose value is present. */
export function definitions(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== '')
      .map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))),
  );
}

/** A coloured state word; the colour only repeats what the word says. */
export function badge(state) {
  return h('span', { class: `badge badge-${String(state).replace(/[^a-z_]/g, '')}` }, String(state).replace(/_/g, ' '));
}

/** Local date and time of an ISO-8601 string, inside a `<time>`. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return h('time', { dateTime: date.toISOString() }, date.toLocaleString());
}

/** `0.934` → `93%`. */
export function percent(value) {
  return typeof value === 'number' ? `${Math.round(value * 100)}%` : '—';
}

/** A duration in milliseconds, made readable. */
export function duration(milliseconds) {
  if (typeof milliseconds !== 'number') return '—';
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  if (milliseconds < 60_000) return `${(milliseconds / 1000).toFixed(1)} s`;
  if (milliseconds < 3_600_000) return `${Math.round(milliseconds / 60_000)} min`;
  if (milliseconds < 86_400_000) return `${Math.round(milliseconds / 3_600_000)} h`;
  return `${Math.round(milliseconds / 86_400_000)} d`;
}

/**
 * An email address that wraps only where an address may: after the `@` and before a dot, never
 * in the middle of a name (`jose.garcia@mailbox.exampl` / `e`).
 */
export function address(text) {
  if (!text) return '—';
  const parts = String(text).split(/(?=[.@])/);
  return h(
    'span',
    { class: 'address' },
    parts.flatMap((part, index) => (index ? [h('wbr'), part] : [part])),
  );
}
