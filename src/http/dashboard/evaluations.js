// Test questions (#/evaluations[/<id>]): run `npm run eval` for a mailbox with a JSON Lines file of
// the operator's questions, watch it run, then read its figures and what each question became.
import { api } from './api.js';
import { badge, definitions, fill, h, keepFocus, table, when } from './dom.js';
import { poll } from './poll.js';

const EXAMPLE =
  '{"id": "reset", "from": "ann@example.org", "subject": "Forgot my password", "body": "How do I reset the admin password?", "manual": "router-manual.pdf", "answer_pages": [3]}';

/** `{count, of, rate}` as "3/4 (75%)", or "n/a" with nothing to count. */
function ratio(value) {
  if (!value) return '—';
  const rate = value.rate === null ? 'n/a' : `${Math.round(value.rate * 100)}%`;
  return `${value.count}/${value.of} (${rate})`;
}

/** A page reference: `p. 3`, marked when it is a page of another manual than the question's. */
function pageOf(ref, manual) {
  return manual && ref.manual !== manual ? `${ref.page}* (${ref.manual})` : String(ref.page);
}

export function createEvaluations(section, context) {
  const body = section.querySelector('.section-body');
  const mailboxSelect = h('select', { id: 'evaluation-mailbox', name: 'agent_email', required: true });
  const fileInput = h('input', {
    id: 'evaluation-file',
    name: 'file',
    type: 'file',
    accept: '.jsonl,.ndjson,.txt,application/jsonl,application/x-ndjson,text/plain',
    required: true,
    'aria-describedby': 'evaluation-format',
  });
  const startButton = h('button', { type: 'submit' }, 'Start');
  const formError = h('p', { class: 'error-text', role: 'alert' });
  const form = h(
    'form',
    { class: 'toolbar', onsubmit: start },
    h('div', { class: 'field' }, h('label', { for: 'evaluation-mailbox' }, 'Mailbox'), mailboxSelect),
    h('div', { class: 'field' }, h('label', { for: 'evaluation-file' }, 'Questions (.jsonl)'), fileInput),
    startButton,
  );
  const format = h(
    'details',
    { id: 'evaluation-format', class: 'meta' },
    h('summary', {}, 'File format'),
    h(
      'p',
      {},
      'One question a line, as JSON: what a customer would write, the manual (its file name as uploaded) and the PDF pages that answer it. A question the manuals must not answer has "answerable": false instead. Nothing is sent: each question runs through classification, retrieval, the reply and the send decision as if the mailbox were in auto mode.',
    ),
    h('pre', { class: 'example' }, EXAMPLE),
  );
  const runs = h('div');
  const detail = h('div', { class: 'evaluation-detail', 'aria-live': 'polite' });
  fill(body, h('h3', { class: 'visually-hidden' }, 'Start an evaluation'), form, formError, format, detail, h('h3', {}, 'Runs'), runs);

  let stop = () => {};
  let openId = null;
  let shownList = '';
  let shownDetail = '';

  /** One beat: the list, and the open evaluation; fast while one runs. */
  async function refresh() {
    let list;
    try {
      list = await api('evaluations');
    } catch (error) {
      context.fail(error);
      throw error;
    }
    renderList(list.evaluations);
    if (openId) await loadDetail(openId);
    return list.running ? 1000 : 10_000;
  }

  function renderList(evaluations) {
    // Re-rendering an unchanged list would move focus away from a button being reached by keyboard.
    const fingerprint = JSON.stringify(evaluations);
    if (fingerprint === shownList) return;
    shownList = fingerprint;
    if (!evaluations.length) {
      fill(runs, h('p', { class: 'empty' }, 'No evaluation yet.'));
      return;
    }
    keepFocus(runs, () =>
      fill(
        runs,
        table(
          'Evaluations',
          ['Started', 'Mailbox', 'File', 'Status', 'Questions', 'Recall@3', 'Auto-sent', ''],
          evaluations.map((run) =>
            h(
              'tr',
              { 'data-evaluation-id': run.id, class: run.id === openId ? 'current' : null },
              h('td', {}, when(run.started_at)),
              h('td', {}, run.agent_email),
              h('td', {}, h('span', { class: 'filename' }, run.filename)),
              h('td', {}, badge(run.status)),
              h('td', { class: 'number' }, run.status === 'running' ? `${run.done} of ${run.questions}` : String(run.questions)),
              h('td', { class: 'number' }, ratio(run.figures?.recall_at_3)),
              h('td', { class: 'number' }, ratio(run.figures?.auto_sent)),
              h(
                'td',
                {},
                h(
                  'a',
                  { class: 'button-link', href: `#/evaluations/${encodeURIComponent(run.id)}` },
                  'Results',
                  h('span', { class: 'visually-hidden' }, ` of ${run.filename}, ${new Date(run.started_at).toLocaleString()}`),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function loadDetail(id) {
    let answer;
    try {
      answer = await api(`evaluations/${encodeURIComponent(id)}`);
    } catch (error) {
      context.fail(error);
      return;
    }
    if (id !== openId) return;
    const fingerprint = JSON.stringify(answer);
    if (fingerprint === shownDetail) return;
    const wasRunning = shownDetail && JSON.parse(shownDetail).evaluation.status === 'running';
    shownDetail = fingerprint;
    keepFocus(detail, () => fill(detail, ...renderDetail(answer.evaluation, answer.report)));
    if (wasRunning && answer.evaluation.status !== 'running') {
      context.announce(
        answer.evaluation.status === 'done' ? `Evaluation of ${answer.evaluation.filename} finished.` : `Evaluation of ${answer.evaluation.filename} failed.`,
        answer.evaluation.status !== 'done',
      );
    }
  }

  function renderDetail(run, report) {
    const heading = h('h3', { id: 'evaluation-title', tabIndex: -1 }, `${run.filename} · ${run.agent_email}`);
    const facts = definitions([
      ['Status', badge(run.status)],
      ['Started', when(run.started_at)],
      ['Finished', run.finished_at ? when(run.finished_at) : null],
      ['Started by', run.by],
    ]);
    if (run.status === 'running') {
      const label = `${run.done} of ${run.questions} questions`;
      return [
        heading,
        facts,
        h(
          'div',
          { class: 'progress' },
          h('progress', { max: run.questions, value: run.done, 'aria-label': `Evaluation progress: ${label}` }),
          h('span', {}, label),
        ),
      ];
    }
    if (run.status === 'failed' || !report) {
      return [heading, facts, h('p', { class: 'error-text' }, run.error ?? 'The evaluation wrote no report.')];
    }
    const figures = report.questions;
    const rows = report.per_question ?? [];
    const nothingRetrieved = rows.length > 0 && rows.every((row) => row.retrieved.length === 0);
    return [
      heading,
      facts,
      nothingRetrieved
        ? h('p', { class: 'error-text' }, `No passage was found for ${run.agent_email}: are its manuals uploaded and ingested (Manuals)?`)
        : null,
      h('h4', {}, 'Figures'),
      definitions([
        ['Questions', `${figures.questions} (${figures.answerable} answerable, ${figures.unanswerable} not)`],
        ['Recall@1', ratio(figures.recall_at_1)],
        ['Recall@3', ratio(figures.recall_at_3)],
        ['Recall@5', ratio(figures.recall_at_5)],
        ['Auto-sent (answerable)', ratio(figures.auto_sent)],
        ['Auto-send precision', ratio(figures.auto_precision)],
        ['Unanswerable auto-sent (should be 0)', ratio(figures.unanswerable_sent)],
        [
          'Decisions',
          Object.entries(figures.decisions)
            .map(([name, count]) => `${name.replace(/_/g, ' ')} ${count}`)
            .join(', '),
        ],
      ]),
      h(
        'p',
        { class: 'meta' },
        'Recall@k: an answer page among the first k passages retrieved. Auto-send precision: of the replies that would go out on their own, those whose first cited passage is on an answer page. A page marked * is of another manual than the question’s.',
      ),
      h('h4', {}, 'Questions'),
      table(
        'What each question became',
        ['Question', 'Expected pages', 'Retrieved (best first)', 'Decision', 'Correct'],
        rows.map((row) => resultRow(row)),
      ),
    ];
  }

  function resultRow(row) {
    const expected = row.answerable ? `${row.expected_pages.join(', ')} (${row.manual})` : 'none: not answerable';
    const retrieved = row.retrieved.length ? row.retrieved.map((ref) => pageOf(ref, row.manual)).join(', ') : 'nothing';
    const found = row.answerable ? (row.hit_rank ? `answer page at rank ${row.hit_rank}` : 'no answer page in the first 5') : null;
    return h(
      'tr',
      { 'data-question-id': row.id },
      h('td', {}, h('strong', {}, row.id)),
      h('td', {}, expected),
      h('td', {}, retrieved, found ? h('p', { class: 'meta' }, found) : null),
      h(
        'td',
        {},
        badge(row.decision),
        row.reason ? h('p', { class: 'meta' }, row.reason) : null,
        row.reply ? h('details', {}, h('summary', {}, 'Reply'), h('pre', { class: 'reply' }, row.reply.body)) : null,
      ),
      h('td', {}, correctness(row)),
    );
  }

  /** Whether what would happen is right: a sent reply citing an answer page, a question the manuals cannot answer not sent. */
  function correctness(row) {
    if (!row.answerable) return row.decision === 'sent' ? h('strong', { class: 'error-text' }, 'No: sent, yet not answerable') : 'Yes: not sent';
    if (row.decision !== 'sent') return row.hit_rank ? 'Not sent (a person answers)' : 'Not sent; answer page not found';
    if (row.sent_correct) return 'Yes';
    const cited = row.first_cited ? `cites p. ${pageOf(row.first_cited, row.manual)}` : 'cites nothing';
    return h('strong', { class: 'error-text' }, `No: ${cited}`);
  }

  async function start(event) {
    event.preventDefault();
    formError.textContent = '';
    const file = fileInput.files[0];
    if (!form.checkValidity() || !file) {
      form.reportValidity();
      return;
    }
    const data = new FormData();
    // The API reads the mailbox before the file, so the field goes first.
    data.append('agent_email', mailboxSelect.value);
    data.append('file', file, file.name);
    startButton.disabled = true;
    try {
      const { evaluation } = await api('evaluations', { form: data });
      context.announce(`Evaluation of ${evaluation.filename} started: ${evaluation.questions} questions.`);
      fileInput.value = '';
      // Its own address: the run can be reloaded, shared, or come back to.
      location.hash = `#/evaluations/${encodeURIComponent(evaluation.id)}`;
    } catch (error) {
      if (error?.status === 401 || error?.name === 'AbortError') return;
      formError.textContent = error?.message ?? String(error);
    } finally {
      startButton.disabled = false;
    }
  }

  function fillMailboxChoices() {
    const chosen = mailboxSelect.value || context.mailbox;
    fill(
      mailboxSelect,
      h('option', { value: '' }, 'Choose a mailbox'),
      context.mailboxes.map((mailbox) => h('option', { value: mailbox }, mailbox)),
    );
    mailboxSelect.value = context.mailboxes.includes(chosen) ? chosen : '';
  }

  return {
    show(argument) {
      fillMailboxChoices();
      if (argument !== openId) {
        openId = argument;
        shownDetail = '';
        shownList = '';
        fill(detail);
      }
      stop();
      stop = poll(refresh, 10_000);
    },
    hide() {
      stop();
    },
  };
}
