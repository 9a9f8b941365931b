// Overview (#/overview, the first section): for a period and the chosen mailbox, what came in and
// how it ended per day, how much went out on its own, how long customers waited, what reviewers did
// with drafts, and why emails were handed off or drafted. Charts are SVG (charts.js); every figure
// is also in a table.
import { api } from './api.js';
import { definitions, duration, fill, h, percent, table } from './dom.js';
import { cellBar, stackedBars } from './charts.js';

/** The outcomes as a lead names them, in the order the chart stacks them. */
export const OUTCOME_LABELS = {
  auto_sent: 'Sent on its own',
  approved_sent: 'Sent after review',
  drafted: 'Drafted, not sent yet',
  handed_off: 'Handed off',
  rejected: 'Rejected by a reviewer',
  ignored: 'Ignored (not support)',
  skipped: 'Skipped (automated mail)',
  dead_lettered: 'Dead-lettered',
  shadowed: 'Shadow mode',
  in_progress: 'In progress',
};

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of a local date. */
function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 10);
}

/** The period controls every report section shares: two dates and quick ranges. */
export function periodControls(idPrefix, onChange) {
  const today = new Date();
  const from = h('input', { id: `${idPrefix}-from`, type: 'date', name: 'from', value: isoDay(new Date(today.getTime() - 6 * DAY_MS)), required: true });
  const to = h('input', { id: `${idPrefix}-to`, type: 'date', name: 'to', value: isoDay(today), required: true });
  const quick = (days, label) =>
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          const now = new Date();
          to.value = isoDay(now);
          from.value = isoDay(new Date(now.getTime() - (days - 1) * DAY_MS));
          onChange();
        },
      },
      label,
    );
  const form = h(
    'form',
    {
      class: 'toolbar',
      'aria-label': 'Period',
      onsubmit: (event) => {
        event.preventDefault();
        onChange();
      },
    },
    h('div', { class: 'field' }, h('label', { for: from.id }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: to.id }, 'To'), to),
    h('button', { type: 'submit' }, 'Show'),
    quick(7, 'Last 7 days'),
    quick(30, 'Last 30 days'),
  );
  for (const input of [from, to]) input.addEventListener('change', () => form.checkValidity() && onChange());
  return {
    form,
    /** The query of the period, with the reader's offset from UTC so days are the reader's days. */
    query: () => ({ from: from.value, to: to.value, utc_offset: -new Date().getTimezoneOffset() }),
  };
}

export function createOverview(section, context) {
  const body = section.querySelector('.section-body');
  const period = periodControls('overview', () => load());
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const content = h('div', { class: 'report' });
  fill(body, period.form, summary, content);
  let request = 0;

  async function load() {
    const mine = ++request;
    let stats;
    try {
      stats = await api('statistics', { query: { ...period.query(), agent_email: context.mailbox } });
    } catch (error) {
      context.fail(error);
      return;
    }
    // A slower answer to an earlier choice must not replace the latest one.
    if (mine !== request) return;
    summary.textContent = `${stats.totals.emails} emails from ${stats.from} to ${stats.to}${stats.agent_email ? ` in ${stats.agent_email}` : ' in every mailbox'}.`;
    fill(content, ...render(stats));
  }

  return {
    show() {
      load();
    },
    hide() {
      request += 1;
    },
  };
}

function render(stats) {
  const { totals, time_to_reply: wait, reviews } = stats;
  const sent = totals.auto_sent + totals.approved_sent;
  const approved = reviews.approved_unchanged + reviews.approved_edited;
  const series = Object.entries(OUTCOME_LABELS)
    .filter(([key]) => stats.days.some((day) => day[key] > 0) || ['auto_sent', 'approved_sent', 'drafted', 'handed_off'].includes(key))
    .map(([key, label]) => ({ key, label }));
  const reviewItems = [
    { key: 'approved_unchanged', label: 'Approved unchanged', value: reviews.approved_unchanged },
    { key: 'approved_edited', label: 'Approved after editing', value: reviews.approved_edited },
    { key: 'rejected', label: 'Rejected', value: reviews.rejected },
    { key: 'pending', label: 'Still waiting', value: reviews.pending },
  ];
  return [
    h(
      'div',
      { class: 'key-figures' },
      definitions([
        ['Emails in', String(totals.emails)],
        ['Replies sent', `${sent} (${totals.auto_sent} on their own)`],
        ['Auto-send rate', stats.auto_send_rate === null ? '—' : percent(stats.auto_send_rate)],
        ['Median wait for a reply', duration(wait.all.median_ms ?? undefined)],
        ['90% waited less than', duration(wait.all.p90_ms ?? undefined)],
        ['Drafts edited before sending', approved ? `${reviews.approved_edited} of ${approved}` : '—'],
        ['Handed off', String(totals.handed_off)],
      ]),
    ),
    h('p', { class: 'meta' }, 'Auto-send rate: replies sent on their own among the emails that got a reply (sent, drafted, handed off or rejected).'),
    h('h3', {}, 'Emails by outcome per day'),
    stackedBars({
      title: 'Emails by outcome per day',
      series,
      rows: stats.days.map((day) => ({ label: day.day.slice(5), values: day })),
    }),
    table(
      'Emails by outcome per day',
      ['Day', ...series.map((item) => item.label), 'Total'],
      [...stats.days, { day: 'Total', ...totals }].map((day) =>
        h(
          'tr',
          { class: day.day === 'Total' ? 'total-row' : null },
          h('th', { scope: 'row', class: 'day' }, day.day),
          series.map(({ key }) => h('td', { class: 'number' }, String(day[key]))),
          h('td', { class: 'number' }, String(Object.keys(OUTCOME_LABELS).reduce((sum, key) => sum + day[key], 0))),
        ),
      ),
      { cards: false },
    ),
    h('h3', {}, 'Time to reply'),
    table(
      'Time from arrival to the reply going out',
      ['Replies', 'Count', 'Median', '90th percentile'],
      [
        ['All sent replies', wait.all],
        ['Sent on their own', wait.auto],
        ['Sent after review', wait.reviewed],
      ].map(([label, spread]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, label),
          h('td', { class: 'number' }, String(spread.count)),
          h('td', { class: 'number' }, duration(spread.median_ms ?? undefined)),
          h('td', { class: 'number' }, duration(spread.p90_ms ?? undefined)),
        ),
      ),
      { cards: false },
    ),
    h('h3', {}, 'What reviewers did with drafts'),
    barTable(
      'What reviewers did with drafts',
      'Decision',
      'Drafts',
      reviewItems.map((item) => ({ ...item, count: item.value })),
    ),
    reasons('Why emails were handed off', 'handoff', stats.handoff_reasons, 'No email was handed off.'),
    reasons('Why replies were drafted instead of sent', 'draft', stats.draft_reasons, 'No reply waits as a draft.'),
  ];
}

/** A table of labelled counts with a bar beside each number. */
function barTable(caption, labelHeading, countHeading, items) {
  const max = Math.max(0, ...items.map((item) => item.count));
  return table(
    caption,
    [labelHeading, countHeading, ''],
    items.map((item) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, item.label),
        h('td', { class: 'number' }, String(item.count)),
        h('td', { class: 'bar-cell' }, cellBar(item.count, max, item.key)),
      ),
    ),
    { cards: false },
  );
}

function reasons(title, key, items, empty) {
  return [
    h('h3', {}, title),
    items.length
      ? barTable(
          title,
          'Reason',
          'Emails',
          items.map((item) => ({ key, label: item.reason, count: item.count })),
        )
      : h('p', { class: 'empty' }, empty),
  ];
}
