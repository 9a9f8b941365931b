// Review queue: each drafted reply beside the passages it was built from; edit, approve or reject.
// Cards are kept across refreshes, so a reply being edited is never overwritten by polling.
import { api } from './api.js';
import { address, badge, fill, h, keepFocus, percent, setText, when } from './dom.js';
import { poll } from './poll.js';

const STATUSES = ['pending', 'approved', 'sent', 'rejected'];
let serial = 0;

export function createReviews(section, context) {
  const body = section.querySelector('.section-body');
  const status = h(
    'select',
    { id: 'review-status', name: 'status' },
    STATUSES.map((name) => h('option', { value: name }, name)),
  );
  status.addEventListener('change', () => restart());
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const list = h('div', { class: 'reviews' });
  fill(
    body,
    h(
      'div',
      { class: 'toolbar' },
      h('div', { class: 'field' }, h('label', { for: 'review-status' }, 'Show'), status),
      h('button', { type: 'button', class: 'secondary', onclick: () => restart() }, 'Refresh'),
    ),
    summary,
    list,
  );

  /** email_id → { element, stamp, textarea } of the cards on screen. */
  let cards = new Map();
  let stop = () => {};

  async function refresh() {
    const { total, reviews } = await api('reviews', { query: { agent_email: context.mailbox, status: status.value } }).catch((error) => {
      context.fail(error);
      throw error;
    });
    setText(summary, total ? `${total} ${status.value} ${total === 1 ? 'reply' : 'replies'}` : `No ${status.value} replies.`);
    const next = new Map();
    for (const review of reviews) {
      const stamp = `${review.status} ${review.updated_at}`;
      const old = cards.get(review.email_id);
      const keep = old && (old.stamp === stamp || (review.status === 'pending' && old.textarea && old.textarea.value !== old.textarea.defaultValue));
      next.set(review.email_id, keep ? old : card(review, stamp));
    }
    const elements = [...next.values()].map((entry) => entry.element);
    const same = elements.length === list.children.length && elements.every((element, index) => list.children[index] === element);
    if (!same) keepFocus(list, () => list.replaceChildren(...elements));
    cards = next;
  }

  function card(review, stamp) {
    const { email, classification, context_used: passages = [] } = review.message;
    const id = `review-${(serial += 1)}`;
    const pending = review.status === 'pending';
    // The address the sender will use (the Reply-To, else the From), or null with the reason.
    const recipient = review.recipient;
    const sendable = pending && recipient !== null;
    const textarea = h('textarea', { id: `${id}-body`, rows: 12, readOnly: !sendable, spellcheck: true });
    textarea.defaultValue = review.reply_body;
    const note = h('input', { id: `${id}-note`, type: 'text', autocomplete: 'off' });
    const approve = h('button', { type: 'button', onclick: () => decide('approve', { body: textarea.value }) }, 'Approve and send');
    const reject = h(
      'button',
      { type: 'button', class: 'danger', onclick: () => decide('reject', note.value.trim() ? { note: note.value.trim() } : {}) },
      'Reject',
    );

    async function decide(action, payload) {
      if (action === 'approve' && !textarea.value.trim()) {
        context.announce('The reply is empty; write a reply or reject it.', true);
        textarea.focus();
        return;
      }
      approve.disabled = reject.disabled = true;
      try {
        await api(`reviews/${encodeURIComponent(review.email_id)}/${action}`, { json: payload });
        context.announce(action === 'approve' ? `Approved the reply to ${recipient}; it is being sent.` : `Rejected the reply to ${email.from}.`);
        section.querySelector('h2').focus();
      } catch (error) {
        context.fail(error);
        approve.disabled = reject.disabled = false;
      }
      context.refreshCounts();
      restart();
    }

    const element = h(
      'article',
      { class: 'review', 'data-email-id': review.email_id, 'aria-labelledby': `${id}-title` },
      h('h3', { id: `${id}-title` }, email.subject || '(no subject)'),
      h(
        'p',
        { class: 'meta' },
        'From ',
        address(email.from),
        ' to ',
        address(review.agent_email),
        ' · ',
        classification.category,
        ` ${percent(classification.confidence)} · `,
        review.reason ? `${review.reason} · ` : '',
        'drafted ',
        when(review.created_at),
      ),
      review.status !== 'pending' ? decision(review) : null,
      recipient === null
        ? h(
            'p',
            { class: 'recipient-problem error-text', role: 'note' },
            'No reply can be sent from here: ',
            h('strong', {}, review.recipient_problem ?? 'no single valid recipient'),
            '. Answer by hand, then reject this draft.',
          )
        : null,
      h(
        'div',
        { class: 'review-grid' },
        h(
          'div',
          { class: 'review-reply' },
          h('details', { open: pending }, h('summary', {}, 'The customer’s email'), h('pre', { class: 'email-body' }, email.body)),
          h(
            'label',
            { for: textarea.id, class: 'reply-recipient' },
            recipient === null ? 'Draft reply (no recipient)' : sendable ? `Reply to ${recipient} (you can edit it)` : `Reply to ${recipient}`,
          ),
          textarea,
          pending
            ? [
                h('div', { class: 'field' }, h('label', { for: note.id }, 'Note for a rejection (optional)'), note),
                h('div', { class: 'actions' }, sendable ? approve : null, reject),
              ]
            : null,
        ),
        h(
          'section',
          { class: 'review-citations', 'aria-labelledby': `${id}-passages` },
          h('h4', { id: `${id}-passages` }, 'Passages the reply is based on'),
          passages.length
            ? h(
                'ol',
                { class: 'passages' },
                passages.map((passage) =>
                  h(
                    'li',
                    {},
                    h(
                      'p',
                      { class: 'cite-source' },
                      h('span', { class: 'filename' }, passage.source),
                      `, page ${passage.page} · score ${passage.similarity_score.toFixed(3)}`,
                    ),
                    h('blockquote', {}, passage.text),
                  ),
                ),
              )
            : h('p', { class: 'empty' }, 'No passages: nothing relevant was found in the manuals.'),
        ),
      ),
    );
    return { element, stamp, textarea: pending ? textarea : null };
  }

  function restart() {
    stop();
    stop = poll(refresh, 5000);
  }

  return {
    show() {
      restart();
    },
    hide() {
      stop();
    },
  };
}

function decision(review) {
  const verb = { approved: 'Approved', sent: 'Approved', rejected: 'Rejected' }[review.status] ?? review.status;
  return h(
    'p',
    { class: 'decision' },
    badge(review.status),
    ' ',
    `${verb} by `,
    h('strong', { class: 'decided-by' }, review.decided_by ?? 'unknown'),
    ' ',
    when(review.decided_at),
    review.edited ? ' · edited' : '',
    review.note ? ` · note: ${review.note}` : '',
    review.sent_at ? [' · sent ', when(review.sent_at)] : '',
  );
}
