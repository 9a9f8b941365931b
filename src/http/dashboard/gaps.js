// Knowledge gaps (#/gaps): the questions of a period the manuals did not answer (handed off, or
// answered from a weak passage), grouped by the terms they share, with examples that open the
// conversation, the manual pages replies cited most, and a CSV export for whoever writes the manuals.
import { api, getToken } from './api.js';
import { fill, h, table } from './dom.js';
import { periodControls } from './overview.js';

const WHY = { handed_off: 'handed off', low_relevance: 'weak passage' };

export function createGaps(section, context) {
  const body = section.querySelector('.section-body');
  const period = periodControls('gaps', () => load());
  const exportButton = h('button', { type: 'button', class: 'secondary', onclick: () => exportCsv() }, 'Export CSV');
  const summary = h('p', { class: 'summary', 'aria-live': 'polite' });
  const content = h('div');
  fill(body, period.form, h('div', { class: 'actions' }, exportButton), summary, content);
  let request = 0;

  async function load() {
    const mine = ++request;
    let gaps;
    try {
      gaps = await api('knowledge-gaps', { query: { ...period.query(), agent_email: context.mailbox } });
    } catch (error) {
      context.fail(error);
      return;
    }
    if (mine !== request) return;
    summary.textContent = gaps.questions
      ? `${gaps.questions} questions from ${gaps.from} to ${gaps.to} were handed off or answered from a passage scoring below ${gaps.low_score}, in ${gaps.groups.length} groups.`
      : `No question from ${gaps.from} to ${gaps.to} was handed off or answered from a weak passage.`;
    fill(content, ...render(gaps));
  }

  /**
   * The CSV comes from the API with the bearer token, so it is fetched here and handed to the
   * browser as a file; a plain link would carry no token.
   */
  async function exportCsv() {
    const url = new URL('api/knowledge-gaps', document.baseURI);
    for (const [name, value] of Object.entries({ ...period.query(), agent_email: context.mailbox, format: 'csv' })) {
      if (value !== '' && value !== undefined) url.searchParams.set(name, String(value));
    }
    try {
      const response = await fetch(url, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
      if (!response.ok) throw new Error(`The export failed: the server answered ${response.status}.`);
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'knowledge-gaps.csv';
      const link = h('a', { href: URL.createObjectURL(await response.blob()), download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      context.announce(`Exported ${name}.`);
    } catch (error) {
      context.fail(error);
    }
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

function render(gaps) {
  return [
    h('h3', {}, 'Questions the manuals did not answer'),
    gaps.groups.length
      ? table(
          'Questions the manuals did not answer, grouped by shared terms',
          ['Asked about', 'Questions', 'Examples'],
          gaps.groups.map((group) =>
            h(
              'tr',
              { class: 'gap-group' },
              h('th', { scope: 'row' }, group.label),
              h('td', { class: 'number' }, String(group.count)),
              h(
                'td',
                {},
                h(
                  'ul',
                  { class: 'examples' },
                  group.examples.map((example) =>
                    h(
                      'li',
                      {},
                      h('a', { href: `#/emails/${encodeURIComponent(example.email_id)}` }, example.subject),
                      h('span', { class: 'muted' }, ` · ${WHY[example.why] ?? example.why}`),
                    ),
                  ),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'Nothing to write yet.'),
    h('h3', {}, 'Manual pages cited most'),
    gaps.cited_pages.length
      ? table(
          'Manual pages cited most by replies',
          ['Manual', 'Page', 'Citations'],
          gaps.cited_pages.map((page) =>
            h(
              'tr',
              { class: 'cited-page' },
              h('td', {}, h('span', { class: 'filename' }, page.title || page.source)),
              h('td', { class: 'number' }, page.page === null ? '—' : String(page.page)),
              h('td', { class: 'number' }, String(page.count)),
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'No reply cited a manual in this period.'),
  ];
}
