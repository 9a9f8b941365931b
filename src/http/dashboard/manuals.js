// Manuals: upload PDFs for a mailbox, watch their ingestion live, delete or re-ingest them.
import { api } from './api.js';
import { badge, fill, h, keepFocus, table, when } from './dom.js';
import { poll } from './poll.js';

const BUSY = new Set(['queued', 'processing']);
/** The upload's mailbox choice that reveals the address field. */
const OTHER = 'other';

export function createManuals(section, context) {
  const body = section.querySelector('.section-body');
  // The known mailboxes (the selector's list), or another address for a mailbox that has none yet.
  const mailboxSelect = h('select', { id: 'upload-mailbox', name: 'agent_email', required: true });
  const otherInput = h('input', { id: 'upload-mailbox-other', type: 'email', autocomplete: 'off', placeholder: 'support@example.com' });
  const otherField = h('div', { class: 'field', hidden: true }, h('label', { for: 'upload-mailbox-other' }, 'New mailbox address'), otherInput);
  mailboxSelect.addEventListener('change', () => {
    const other = mailboxSelect.value === OTHER;
    otherField.hidden = !other;
    otherInput.required = other;
    if (other) otherInput.focus();
  });
  const fileInput = h('input', { id: 'upload-files', name: 'file', type: 'file', accept: 'application/pdf,.pdf', multiple: true, required: true });
  const uploadButton = h('button', { type: 'submit' }, 'Upload');
  const form = h(
    'form',
    { class: 'toolbar', onsubmit: upload },
    h('div', { class: 'field' }, h('label', { for: 'upload-mailbox' }, 'Mailbox'), mailboxSelect),
    otherField,
    h('div', { class: 'field' }, h('label', { for: 'upload-files' }, 'PDF manuals'), fileInput),
    uploadButton,
  );
  const list = h('div');
  fill(body, h('h3', { class: 'visually-hidden' }, 'Upload'), form, h('h3', {}, 'Documents'), list);

  let stop = () => {};
  let shown = '';

  async function refresh() {
    const { documents } = await api('documents', { query: { agent_email: context.mailbox } }).catch((error) => {
      context.fail(error);
      throw error;
    });
    render(documents);
    return documents.some((record) => BUSY.has(record.status)) ? 1000 : 10_000;
  }

  function render(documents) {
    // Re-rendering an unchanged list would move focus away from a button being reached by keyboard.
    const fingerprint = JSON.stringify(documents);
    if (fingerprint === shown) return;
    shown = fingerprint;
    if (!documents.length) {
      fill(list, h('p', { class: 'empty' }, context.mailbox ? `No manuals for ${context.mailbox} yet.` : 'No manuals yet.'));
      return;
    }
    keepFocus(list, () =>
      fill(
        list,
        table(
          'Uploaded manuals',
          ['Document', 'Mailbox', 'Status', 'Progress', 'Chunks', 'Updated', 'Actions'],
          documents.map((record) =>
            h(
              'tr',
              { 'data-document-id': record.document_id },
              h('td', {}, h('span', { class: 'filename' }, record.filename)),
              h('td', {}, record.agent_email),
              h('td', { class: 'document-status' }, badge(record.status), record.error ? h('p', { class: 'error-text' }, record.error) : null),
              h('td', {}, progress(record)),
              h('td', { class: 'number' }, record.chunks ?? '—'),
              h('td', {}, when(record.updated_at)),
              h(
                'td',
                {},
                h(
                  'div',
                  { class: 'actions' },
                  h(
                    'button',
                    { type: 'button', class: 'secondary', disabled: BUSY.has(record.status), onclick: () => reingest(record) },
                    'Re-ingest',
                    h('span', { class: 'visually-hidden' }, ` ${record.filename}`),
                  ),
                  h(
                    'button',
                    { type: 'button', class: 'danger', onclick: () => remove(record) },
                    'Delete',
                    h('span', { class: 'visually-hidden' }, ` ${record.filename}`),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function progress(record) {
    const total = record.pages_total;
    const done = record.pages_done ?? 0;
    if (!BUSY.has(record.status)) return total ? `${total} ${total === 1 ? 'page' : 'pages'}` : '—';
    const label = total ? `${done} of ${total} pages` : 'waiting';
    return h(
      'div',
      { class: 'progress' },
      h('progress', { max: total || 1, value: total ? done : 0, 'aria-label': `${record.filename}: ${label}` }),
      h('span', {}, label),
    );
  }

  async function upload(event) {
    event.preventDefault();
    const files = [...fileInput.files];
    if (!form.checkValidity() || !files.length) {
      form.reportValidity();
      return;
    }
    const data = new FormData();
    // The API reads the mailbox before the files, so the field goes first.
    data.append('agent_email', chosenMailbox());
    for (const file of files) data.append('file', file, file.name);
    uploadButton.disabled = true;
    context.announce(`Uploading ${files.length === 1 ? files[0].name : `${files.length} files`}…`);
    try {
      const { documents } = await api('documents', { form: data });
      context.announce(`Uploaded ${documents.map((record) => record.filename).join(', ')}; ingestion queued.`);
      fileInput.value = '';
      const uploadedTo = documents[0]?.agent_email;
      if (!context.mailboxes.includes(uploadedTo)) {
        await context.reloadMailboxes();
        fillMailboxChoices(uploadedTo);
      }
      restart();
    } catch (error) {
      context.fail(error);
    } finally {
      uploadButton.disabled = false;
    }
  }

  async function reingest(record) {
    try {
      await api(`documents/${encodeURIComponent(record.document_id)}/reingest`, { method: 'POST' });
      context.announce(`${record.filename}: ingestion queued again.`);
      restart();
    } catch (error) {
      context.fail(error);
    }
  }

  async function remove(record) {
    if (!confirm(`Delete ${record.filename} and its passages from ${record.agent_email}?`)) return;
    try {
      await api(`documents/${encodeURIComponent(record.document_id)}`, { method: 'DELETE' });
      context.announce(`Deleted ${record.filename}.`);
      section.querySelector('h2').focus();
      restart();
    } catch (error) {
      context.fail(error);
    }
  }

  function restart() {
    stop();
    stop = poll(refresh, 10_000);
  }

  function chosenMailbox() {
    return mailboxSelect.value === OTHER ? otherInput.value.trim() : mailboxSelect.value;
  }

  /** The known mailboxes as choices, `preferred` chosen (or the one chosen before). */
  function fillMailboxChoices(preferred) {
    const chosen = preferred ?? mailboxSelect.value;
    fill(
      mailboxSelect,
      h('option', { value: '' }, 'Choose a mailbox'),
      context.mailboxes.map((mailbox) => h('option', { value: mailbox }, mailbox)),
      h('option', { value: OTHER }, 'Another address…'),
    );
    mailboxSelect.value = context.mailboxes.includes(chosen) ? chosen : context.mailboxes.length ? '' : OTHER;
    otherField.hidden = mailboxSelect.value !== OTHER;
    otherInput.required = mailboxSelect.value === OTHER;
    if (mailboxSelect.value !== OTHER) otherInput.value = '';
  }

  return {
    show() {
      fillMailboxChoices(context.mailbox || undefined);
      restart();
    },
    hide() {
      stop();
    },
  };
}
