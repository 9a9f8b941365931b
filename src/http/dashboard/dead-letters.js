// Dead letters: what failed for good, why, and the record itself; replay to the original queue
// or discard. Listing holds the queue for a moment (see src/messaging/dead-letters.ts), so this
// section lists on entry and on demand rather than polling.
import { api } from './api.js';
import { duration, fill, h, setText, table } from './dom.js';

export function createDeadLetters(section, context) {
  const body = section.querySelector('.section-body');
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const list = h('div');
  const replaySelected = h('button', { type: 'button', onclick: () => act('replay', selected()) }, 'Replay selected');
  const discardSelected = h('button', { type: 'button', class: 'danger', onclick: () => act('discard', selected()) }, 'Discard selected');
  const refreshButton = h('button', { type: 'button', class: 'secondary', onclick: () => refresh() }, 'Refresh');
  fill(body, h('div', { class: 'toolbar' }, refreshButton, replaySelected, discardSelected), summary, list);

  let entries = [];
  let loading = false;

  function selected() {
    return [...list.querySelectorAll('input[type=checkbox]:checked')].map((box) => box.value);
  }

  async function refresh() {
    if (loading) return;
    loading = true;
    list.setAttribute('aria-busy', 'true');
    try {
      ({ entries } = await api('dead-letters'));
      render();
    } catch (error) {
      context.fail(error);
    } finally {
      loading = false;
      list.setAttribute('aria-busy', 'false');
    }
  }

  function render() {
    const shown = entries.filter((entry) => !context.mailbox || mailboxOf(entry) === context.mailbox);
    const hiddenCount = entries.length - shown.length;
    setText(
      summary,
      `${entries.length ? `${entries.length} dead ${entries.length === 1 ? 'letter' : 'letters'}` : 'No dead letters. Nothing failed for good.'}${hiddenCount ? ` (${hiddenCount} of other mailboxes hidden)` : ''}`,
    );
    replaySelected.disabled = discardSelected.disabled = !shown.length;
    fill(
      list,
      shown.length
        ? table(
            'Dead letters',
            ['Select', 'Failed in', 'Reason', 'Retries', 'Age', 'Email / document', 'Actions'],
            shown.map((entry, index) => {
              const record = h(
                'tr',
                { class: 'record-row', hidden: true, id: `dead-letter-record-${index}` },
                h(
                  'td',
                  { colSpan: 7 },
                  h(
                    'pre',
                    { class: 'record', tabIndex: 0, 'aria-label': `Dead-letter record ${entry.id}` },
                    JSON.stringify(entry.record ?? { original_message: entry.originalMessage, headers: entry.headers }, null, 2),
                  ),
                ),
              );
              const inspectButton = h(
                'button',
                {
                  type: 'button',
                  class: 'secondary',
                  'aria-expanded': 'false',
                  'aria-controls': record.id,
                  onclick: () => {
                    record.hidden = !record.hidden;
                    inspectButton.setAttribute('aria-expanded', String(!record.hidden));
                  },
                },
                'Inspect',
              );
              const subject = entry.emailId ?? entry.documentId ?? entry.id;
              return [
                h(
                  'tr',
                  { 'data-dead-letter-id': entry.id },
                  h('td', {}, h('input', { type: 'checkbox', value: entry.id, id: `dead-letter-${index}`, 'aria-label': `Select ${subject}` })),
                  h('td', {}, entry.originalQueue ?? 'unknown', h('br'), h('small', {}, entry.kind === 'broker' ? 'by the broker' : 'by a worker')),
                  h('td', { class: 'clip' }, h('strong', {}, entry.errorType), h('br'), entry.reason),
                  h('td', { class: 'number' }, entry.retryCount),
                  h('td', {}, entry.ageMs === null ? '—' : `${duration(entry.ageMs)} ago`),
                  h(
                    'td',
                    { class: 'clip' },
                    entry.emailId ? h('a', { href: `#/emails/${encodeURIComponent(entry.emailId)}` }, entry.emailId) : h('code', {}, subject),
                  ),
                  h(
                    'td',
                    {},
                    h(
                      'div',
                      { class: 'actions' },
                      inspectButton,
                      h(
                        'button',
                        { type: 'button', onclick: () => act('replay', [entry.id]) },
                        'Replay',
                        h('span', { class: 'visually-hidden' }, ` ${subject}`),
                      ),
                      h(
                        'button',
                        { type: 'button', class: 'danger', onclick: () => act('discard', [entry.id]) },
                        'Discard',
                        h('span', { class: 'visually-hidden' }, ` ${subject}`),
                      ),
                    ),
                  ),
                ),
                record,
              ];
            }),
          )
        : null,
    );
  }

  async function act(action, ids) {
    if (!ids.length) {
      context.announce('Select at least one dead letter first.', true);
      return;
    }
    if (action === 'discard' && !confirm(`Discard ${ids.length} dead ${ids.length === 1 ? 'letter' : 'letters'} for good?`)) return;
    try {
      const answer = await api(`dead-letters/${action}`, { json: { ids } });
      const done = answer[action === 'replay' ? 'replayed' : 'discarded'] ?? [];
      const failed = answer.failed ?? [];
      const verb = action === 'replay' ? 'Replayed' : 'Discarded';
      context.announce(`${verb} ${done.length} of ${ids.length}.${failed.map((item) => ` ${item.id}: ${item.error}`).join('')}`, failed.length > 0);
    } catch (error) {
      context.fail(error);
    }
    section.querySelector('h2').focus();
    await refresh();
  }

  return {
    show() {
      refresh();
    },
    hide() {},
  };
}

/** The mailbox a dead letter belongs to, read from the original message (email or document). */
function mailboxOf(entry) {
  const original = entry.originalMessage;
  if (!original || typeof original !== 'object') return null;
  return original.email?.agent_email ?? original.agent_email ?? null;
}
