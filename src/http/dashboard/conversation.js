// One email as a conversation (#/emails/<email_id>): what the customer wrote, the reply as sent or
// drafted in full, the sources it cites (each opening the manual at its page in a new tab), and why
// it was sent, drafted or handed off. Data reaches the page as text only (dom.js).
import { address, badge, definitions, h, when } from './dom.js';

/** What each decision means to a support lead. */
const DECISIONS = {
  send: 'Sent on its own',
  draft: 'Drafted for a person to check',
  handoff: 'Handed off to a person',
};

/** Where the reply text shown came from. */
const REPLY_SOURCES = {
  sent: 'As sent',
  approved: 'As approved by a reviewer',
  drafted: 'Draft',
  handed_off: 'Hand-off draft',
  shadowed: 'Shadow mode: written, not sent',
  review: 'Draft in the review queue',
};

/**
 * The signed link the API gave (`/manual-files/…#page=N`), resolved against the page's own
 * address so the dashboard works behind a proxy's path prefix too.
 */
function manualHref(url) {
  return new URL(url.replace(/^\//, ''), document.baseURI).href;
}

function citationItem(citation) {
  const name = citation.title || citation.source;
  const page = citation.page ? `page ${citation.page}` : 'whole document';
  if (!citation.url) {
    return h('li', {}, h('span', { class: 'filename' }, name), `, ${page} `, h('span', { class: 'muted' }, '(no longer stored)'));
  }
  return h(
    'li',
    {},
    // A new tab: the viewer opens at the page, and the conversation stays where it was.
    h(
      'a',
      { href: manualHref(citation.url), target: '_blank', rel: 'noopener', class: 'citation-link' },
      h('span', { class: 'filename' }, name),
      `, ${page}`,
      h('span', { class: 'visually-hidden' }, ' (opens the PDF in a new tab)'),
    ),
  );
}

/** The conversation part of an email's detail view. */
export function renderConversation({ customer, reply, decision, citations, email }) {
  return [
    h(
      'section',
      { class: 'conversation', 'aria-labelledby': 'customer-title' },
      h('h4', { id: 'customer-title' }, 'Customer’s email'),
      definitions([
        ['From', customer.from ? address(customer.from) : null],
        ['Received', customer.received_at ? when(customer.received_at) : null],
      ]),
      customer.body
        ? h('pre', { class: 'email-body customer-body' }, customer.body)
        : h('p', { class: 'empty' }, 'The customer’s text was not recorded for this email.'),
    ),
    h(
      'section',
      { class: 'conversation', 'aria-labelledby': 'reply-title' },
      h('h4', { id: 'reply-title' }, 'Reply', reply ? h('span', { class: 'reply-source' }, ` · ${REPLY_SOURCES[reply.source] ?? 'Recorded'}`) : null),
      reply?.subject ? h('p', { class: 'reply-subject' }, h('strong', {}, 'Subject: '), reply.subject) : null,
      reply ? h('pre', { class: 'email-body full-reply' }, reply.body) : h('p', { class: 'empty' }, 'No reply yet.'),
      reply && !reply.complete
        ? h('p', { class: 'note' }, 'Only the start of this reply was recorded (it was answered before whole replies were kept).')
        : null,
      citations.length
        ? [h('h5', {}, 'Sources cited'), h('ul', { class: 'citations' }, citations.map(citationItem))]
        : email.handoff
          ? null
          : h('p', { class: 'empty' }, 'The reply cites no source.'),
    ),
    h(
      'section',
      { class: 'conversation decision', 'aria-labelledby': 'decision-title' },
      h('h4', { id: 'decision-title' }, 'Decision'),
      decision
        ? [
            h('p', {}, badge(decision.action), ' ', DECISIONS[decision.action] ?? decision.action),
            decision.reasons.length
              ? h(
                  'ul',
                  { class: 'reasons' },
                  decision.reasons.map((reason) => h('li', {}, reason)),
                )
              : null,
          ]
        : h('p', { class: 'empty' }, 'No decision recorded (not answered yet, or answered by an older version).'),
      email.outcome ? h('p', {}, 'Outcome: ', email.outcome) : null,
    ),
  ];
}
