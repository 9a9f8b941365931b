// Email timeline: every email with where it stands, filters, and one email at #/emails/<email_id>:
// the conversation (conversation.js), then classification, retrieved passages and the journey.
import { api } from './api.js';
import { address, badge, definitions, duration, fill, h, keepFocus, percent, setText, table, when } from './dom.js';
import { poll } from './poll.js';
import { renderConversation } from './conversation.js';

const STATES = [
  'received',
  'classified',
  'retrieved',
  'replied',
  'sent',
  'drafted',
  'handed_off',
  'shadowed',
  'ignored',
  'skipped',
  'dead_lettered',
  'rejected',
];
const PAGE_SIZE = 50;

export function createEmails(section, context) {
  const body = section.querySelector('.section-body');
  const search = h('input', { id: 'email-search', type: 'search', name: 'search', placeholder: 'Subject, sender, id, reply' });
  const state = h(
    'select',
    { id: 'email-state', name: 'state' },
    h('option', { value: '' }, 'Any state'),
    STATES.map((name) => h('option', { value: name }, name.replace(/_/g, ' '))),
  );
  // The classifier's categories, known once the API answered (loadCategories).
  const category = h('select', { id: 'email-category', name: 'category' }, h('option', { value: '' }, 'Any category'));
  const filters = h(
    'form',
    {
      class: 'toolbar',
      role: 'search',
      'aria-label': 'Filter emails',
      onsubmit: (event) => {
        event.preventDefault();
        offset = 0;
        restart();
      },
    },
    h('div', { class: 'field grow' }, h('label', { for: 'email-search' }, 'Search'), search),
    h('div', { class: 'field' }, h('label', { for: 'email-state' }, 'State'), state),
    h('div', { class: 'field' }, h('label', { for: 'email-category' }, 'Category'), category),
    h('button', { type: 'submit' }, 'Apply filters'),
    h(
      'button',
      {
        type: 'reset',
        class: 'secondary',
        onclick: () =>
          setTimeout(() => {
            offset = 0;
            restart();
          }),
      },
      'Clear',
    ),
  );
  for (const select of [state, category]) {
    select.addEventListener('change', () => {
      offset = 0;
      restart();
    });
  }
  let categoriesLoaded = false;
  async function loadCategories() {
    if (categoriesLoaded) return;
    try {
      const { categories } = await api('categories');
      const chosen = category.value;
      fill(
        category,
        h('option', { value: '' }, 'Any category'),
        categories.map((name) => h('option', { value: name }, name)),
      );
      category.value = chosen;
      categoriesLoaded = true;
    } catch (error) {
      context.fail(error);
    }
  }
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const list = h('div');
  const pager = h('div', { class: 'pager' });
  const listView = h('div', {}, filters, summary, list, pager);
  const detailView = h('article', { class: 'detail', hidden: true, 'aria-labelledby': 'email-detail-title' });
  fill(body, listView, detailView);

  let offset = 0;
  let stop = () => {};
  let shown = '';
  let emailId = null;

  async function refreshList() {
    const answer = await api('emails', {
      query: { agent_email: context.mailbox, state: state.value, category: category.value, search: search.value.trim(), limit: PAGE_SIZE, offset },
    }).catch((error) => {
      context.fail(error);
      throw error;
    });
    const fingerprint = JSON.stringify(answer);
    if (fingerprint === shown) return;
    shown = fingerprint;
    const { total, emails } = answer;
    setText(summary, total ? `${offset + 1}–${offset + emails.length} of ${total} emails` : 'No emails match.');
    keepFocus(list, () =>
      fill(
        list,
        emails.length
          ? table(
              'Emails',
              ['Received', 'From', 'Subject', 'Mailbox', 'State', 'Category', 'Confidence'],
              emails.map((email) =>
                h(
                  'tr',
                  { 'data-email-id': email.email_id },
                  h('td', {}, when(email.received_at ?? email.first_seen_at)),
                  h('td', { class: 'clip' }, address(email.from)),
                  h('td', {}, h('a', { href: `#/emails/${encodeURIComponent(email.email_id)}` }, email.subject || '(no subject)')),
                  h('td', {}, address(email.agent_email)),
                  h('td', { class: 'email-state' }, badge(email.state)),
                  h('td', {}, email.category ?? '—'),
                  h('td', { class: 'number' }, percent(email.confidence)),
                ),
              ),
            )
          : null,
      ),
    );
    const filtered = Boolean(context.mailbox || state.value || category.value || search.value.trim());
    if (!total) setText(summary, filtered ? 'No emails match.' : 'No emails yet.');
    // Page buttons only when there is more than one page.
    if (offset === 0 && total <= PAGE_SIZE) return void fill(pager);
    fill(
      pager,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          disabled: offset === 0,
          onclick: () => {
            offset = Math.max(0, offset - PAGE_SIZE);
            restart();
          },
        },
        'Previous page',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          disabled: offset + emails.length >= total,
          onclick: () => {
            offset += PAGE_SIZE;
            restart();
          },
        },
        'Next page',
      ),
    );
  }

  async function refreshDetail() {
    let answer;
    try {
      answer = await api(`emails/${encodeURIComponent(emailId)}/conversation`);
    } catch (error) {
      if (error.status === 404) {
        shown = '';
        fill(detailView, backLink(), h('h3', { id: 'email-detail-title' }, 'Email not found'), h('p', {}, `No email with id ${emailId} has been recorded.`));
        return;
      }
      context.fail(error);
      throw error;
    }
    const fingerprint = JSON.stringify(answer);
    if (fingerprint === shown) return;
    shown = fingerprint;
    keepFocus(detailView, () => fill(detailView, backLink(), ...renderDetail(answer)));
  }

  function restart() {
    stop();
    shown = '';
    stop = emailId ? poll(refreshDetail, 3000) : poll(refreshList, 5000);
  }

  return {
    show(argument) {
      loadCategories();
      emailId = argument;
      listView.hidden = Boolean(emailId);
      detailView.hidden = !emailId;
      if (emailId) fill(detailView, backLink(), h('p', {}, 'Loading…'));
      restart();
    },
    hide() {
      stop();
    },
  };
}

function backLink() {
  return h('p', {}, h('a', { href: '#/emails' }, '← All emails'));
}

function renderDetail(answer) {
  const { email, timeline, review } = answer;
  const retrieved = [...timeline].reverse().find((event) => event.stage === 'retrieved');
  const passages = Array.isArray(retrieved?.detail?.chunks) ? retrieved.detail.chunks : [];
  return [
    h('h3', { id: 'email-detail-title' }, email.subject || '(no subject)'),
    definitions([
      ['State', badge(email.state)],
      ['Mailbox', email.agent_email ? address(email.agent_email) : null],
      ['Priority', email.priority],
      ['Email id', h('code', {}, email.email_id)],
    ]),
    email.error_message ? h('p', { class: 'error-text' }, `${email.error_type ?? 'error'}: ${email.error_message}`) : null,
    ...renderConversation(answer),
    h('h4', {}, 'Classification'),
    email.is_support_inquiry === null
      ? h('p', { class: 'empty' }, 'Not classified yet.')
      : definitions([
          ['Support inquiry', email.is_support_inquiry ? 'yes' : 'no'],
          ['Category', email.category],
          ['Confidence', percent(email.confidence)],
          ['Reasoning', email.reasoning],
        ]),
    h('h4', {}, 'Retrieved passages'),
    passages.length
      ? h(
          'ol',
          { class: 'passages' },
          passages.map((chunk) =>
            h(
              'li',
              {},
              h('span', { class: 'filename' }, chunk.source ?? 'unknown document'),
              `, page ${chunk.page ?? '?'}`,
              typeof chunk.score === 'number' ? ` · score ${chunk.score.toFixed(3)}` : '',
            ),
          ),
        )
      : h('p', { class: 'empty' }, email.chunk_count === 0 ? 'Nothing relevant was found.' : 'No retrieval recorded.'),
    definitions([
      ['Handed off', email.handoff === null ? null : email.handoff ? 'yes' : 'no'],
      ['Send mode', email.send_mode],
      ['Sent message id', email.sent_message_id ? h('code', {}, email.sent_message_id) : null],
    ]),
    review
      ? h(
          'p',
          {},
          'Review: ',
          badge(review.status),
          review.decided_by ? ` by ${review.decided_by} ` : ' ',
          review.decided_at ? when(review.decided_at) : '',
          review.status === 'pending' ? [' — ', h('a', { href: '#/reviews' }, 'open the review queue')] : null,
        )
      : null,
    h('h4', {}, 'Journey'),
    timeline.length
      ? table(
          'Pipeline events',
          ['Time', 'Stage', 'Role', 'Duration', 'Model', 'Detail'],
          timeline.map((event) =>
            h(
              'tr',
              {},
              h('td', {}, when(event.timestamp)),
              h('td', {}, badge(event.stage)),
              h('td', {}, event.role),
              h('td', { class: 'number' }, duration(event.duration_ms)),
              h('td', {}, [event.provider, event.model].filter(Boolean).join(' / ') || '—'),
              h('td', { class: 'clip' }, describe(event)),
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'No events yet.'),
  ];
}

/** One short line of what an event says beyond its stage. */
function describe(event) {
  const detail = event.detail ?? {};
  switch (event.stage) {
    case 'classified':
    case 'ignored': {
      // The classifier role records the email's language and, when it cannot vouch for its verdict, why a person must review the reply.
      const language = detail.language ? `language ${detail.language}` : null;
      const review = detail.review_reason ? `review: ${detail.review_reason}` : null;
      return [`${detail.category ?? ''} ${percent(detail.confidence)}`.trim(), language, review].filter(Boolean).join(' · ');
    }
    case 'retrieved':
      return `${plural(Array.isArray(detail.chunks) ? detail.chunks.length : (detail.chunks ?? 0), 'passage')}, top ${typeof detail.top_score === 'number' ? detail.top_score.toFixed(3) : '—'}`;
    case 'replied': {
      // The responder's one decision about the reply and why (src/rag/decide.ts); older events have none.
      const decision = detail.decision ? `${detail.decision.action}: ${(detail.decision.reasons ?? []).join('; ')}` : null;
      return [detail.handoff ? 'hand-off to a person' : plural(detail.citations?.length ?? 0, 'citation'), decision].filter(Boolean).join(' · ');
    }
    case 'review_approved':
      return `approved by ${detail.by ?? '?'}${detail.edited ? ' (edited)' : ''}`;
    case 'review_rejected':
      return `rejected by ${detail.by ?? '?'}${detail.note ? `: ${detail.note}` : ''}`;
    case 'dead_lettered':
      return `${detail.error_type ?? ''} ${detail.error_message ?? ''}`.trim();
    default:
      return [detail.mode, detail.reason].filter(Boolean).join(' · ');
  }
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
