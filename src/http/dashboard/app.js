// The operator dashboard: sign-in, the hash router (#/overview, #/manuals, #/emails[/<email_id>],
// #/reviews, #/gaps, #/evaluations[/<id>], #/dead-letters, #/broker), the mailbox selector, and the status line every section reports to.
import { adoptTokenFromFragment, api, clearToken, getToken, setToken, whenUnauthorized } from './api.js';
import { fill, h } from './dom.js';
import { createManuals } from './manuals.js';
import { createEmails } from './emails.js';
import { createReviews } from './reviews.js';
import { createDeadLetters } from './dead-letters.js';
import { createBroker } from './broker.js';
import { createOverview } from './overview.js';
import { createGaps } from './gaps.js';
import { createEvaluations } from './evaluations.js';

const byId = (id) => document.getElementById(id);
const DEFAULT_ROUTE = 'overview';
let statusTimer;

/** What the sections share: the selected mailbox, the known mailboxes, the status line. */
const context = {
  /** '' means every mailbox. */
  mailbox: '',
  mailboxes: [],
  /** Says `text` in the status line (read out by screen readers); errors are marked as such. */
  announce(text, isError = false) {
    const status = byId('status');
    status.classList.toggle('error', isError);
    // Emptying first makes a repeated message be read out again; the message goes after a while.
    status.textContent = '';
    clearTimeout(statusTimer);
    setTimeout(() => {
      status.textContent = text;
    }, 50);
    statusTimer = setTimeout(
      () => {
        status.textContent = '';
      },
      isError ? 20_000 : 8_000,
    );
  },
  /** Reports a failed call, unless it was a 401, which already sent the page to the sign-in form. */
  fail(error) {
    if (error?.name === 'AbortError' || error?.status === 401) return;
    context.announce(error?.message ?? String(error), true);
  },
  refreshCounts,
  reloadMailboxes: loadMailboxes,
};

const sections = {
  overview: createOverview(byId('overview'), context),
  manuals: createManuals(byId('manuals'), context),
  emails: createEmails(byId('emails'), context),
  reviews: createReviews(byId('reviews'), context),
  gaps: createGaps(byId('gaps'), context),
  evaluations: createEvaluations(byId('evaluations'), context),
  'dead-letters': createDeadLetters(byId('dead-letters'), context),
  broker: createBroker(byId('broker'), context),
};
let current = null;
let signedIn = false;

function parseRoute() {
  const [, name, ...rest] = location.hash.replace(/^#/, '').split('/');
  if (!(name in sections)) return { name: DEFAULT_ROUTE, argument: null };
  return { name, argument: rest.length && rest.join('/') ? decodeURIComponent(rest.join('/')) : null };
}

/** Shows the section of the address bar; `moveFocus` after a click, so screen readers follow. */
function route(moveFocus) {
  if (!signedIn) return;
  const { name, argument } = parseRoute();
  if (current && current !== name) sections[current].hide();
  for (const id of Object.keys(sections)) byId(id).hidden = id !== name;
  for (const link of document.querySelectorAll('nav a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const heading = byId(name).querySelector('h2');
  document.title = `${heading.textContent} · ragmail`;
  current = name;
  sections[name].show(argument);
  if (moveFocus) heading.focus();
}

function showSignIn(message = '') {
  if (current) sections[current].hide();
  current = null;
  signedIn = false;
  for (const id of [...Object.keys(sections), 'nav', 'session']) byId(id).hidden = true;
  byId('sign-in').hidden = false;
  byId('sign-in-error').textContent = message;
  document.title = 'Sign in · ragmail';
  byId('token').focus();
}

async function start() {
  let me;
  try {
    me = await api('me');
  } catch (error) {
    // A 401 has shown the sign-in form already.
    if (error.status !== 401) showSignIn(error.message);
    return;
  }
  signedIn = true;
  byId('sign-in').hidden = true;
  byId('nav').hidden = false;
  byId('session').hidden = false;
  fill(byId('who'), 'Signed in as ', h('strong', {}, me.name));
  await loadMailboxes();
  refreshCounts();
  route(false);
}

async function loadMailboxes() {
  try {
    ({ mailboxes: context.mailboxes } = await api('mailboxes'));
  } catch (error) {
    context.fail(error);
  }
  const select = byId('mailbox');
  fill(
    select,
    h('option', { value: '' }, 'All mailboxes'),
    context.mailboxes.map((address) => h('option', { value: address }, address)),
  );
  select.value = context.mailboxes.includes(context.mailbox) ? context.mailbox : '';
  context.mailbox = select.value;
}

/** The pending-review count in the navigation; returns the overview for whoever wants it. */
async function refreshCounts() {
  try {
    const overview = await api('overview');
    const pending = overview.pending_reviews ?? 0;
    fill(byId('pending-count'), pending ? h('span', { class: 'count' }, String(pending), h('span', { class: 'visually-hidden' }, ' pending')) : null);
    return overview;
  } catch (error) {
    context.fail(error);
    return null;
  }
}

whenUnauthorized(() => {
  // Calls running side by side may all answer 401: the first one signs out, the others are late.
  if (getToken() === null) return;
  clearToken();
  showSignIn('The token was refused. Paste a valid access token.');
});

byId('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId('token');
  const token = input.value.trim();
  if (!token) {
    byId('sign-in-error').textContent = 'Paste the access token first.';
    return;
  }
  setToken(token, byId('remember').checked);
  input.value = '';
  byId('sign-in-error').textContent = '';
  start();
});

byId('sign-out').addEventListener('click', () => {
  clearToken();
  showSignIn('Signed out.');
});

byId('mailbox').addEventListener('change', (event) => {
  context.mailbox = event.target.value;
  if (current) sections[current].show(parseRoute().argument);
});

// The skip link moves focus without touching the address bar, which holds the route.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  byId('main').focus();
});

window.addEventListener('hashchange', () => {
  // Only #/… fragments are routes; another fragment (an in-page link) leaves the section as it is.
  if (location.hash.startsWith('#/') || location.hash === '') route(true);
});
adoptTokenFromFragment(`#/${DEFAULT_ROUTE}`);
if (getToken()) start();
else showSignIn();
