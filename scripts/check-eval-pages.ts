/**
 * Checks every answer page of the dev set (eval/questions.jsonl): each answerable question's
 * `evidence` phrase must be in the text of one of its `answer_pages`, and each `judged` page's own
 * evidence must be in the text of that very page, as the project's own PDF code (src/rag/pdf.ts)
 * extracts it from the manual fetched from Debian. Whitespace and case are ignored (PDF text breaks
 * lines and spaces CJK text at will).
 *
 *   npx tsx scripts/check-eval-pages.ts [questions.jsonl]    exit 1 when a page does not hold its evidence
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { questionSchema, readJsonl } from '../src/features/eval-dataset.js';
import { fetchDevManual, readDevManuals } from '../src/eval/manuals.js';
import { extractPages } from '../src/rag/pdf.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const questions = await readJsonl(process.argv[2] ?? path.join(root, 'eval', 'questions.jsonl'), questionSchema);
const manuals = await readDevManuals(path.join(root, 'eval', 'manuals.json'));
const squash = (text: string) => text.normalize('NFKC').replace(/\s+/g, '').toLowerCase();

const pagesOf = new Map<string, string[]>();
const problems: string[] = [];
let checked = 0;
let judgedChecked = 0;
/** The pages of a manual that hold a phrase, to say where a misplaced phrase really is. */
const pagesHolding = (pages: string[], phrase: string) => pages.flatMap((text, index) => (text.includes(squash(phrase)) ? [index + 1] : []));
for (const q of questions.filter((question) => question.answerable)) {
  const manual = manuals.find((m) => m.name === q.manual);
  if (!manual) {
    problems.push(`${q.id}: manual ${q.manual} is not in eval/manuals.json`);
    continue;
  }
  if (!q.evidence) {
    problems.push(`${q.id}: no evidence phrase`);
    continue;
  }
  if (!pagesOf.has(manual.name)) {
    const pdf = await readFile(await fetchDevManual(manual, path.join(root, 'data', 'eval-cache')));
    pagesOf.set(manual.name, (await extractPages(pdf, { maxPages: 5000 })).map(squash));
  }
  const pages = pagesOf.get(manual.name)!;
  const found = q.answer_pages.filter((page) => pages[page - 1]?.includes(squash(q.evidence!)));
  if (found.length === 0) {
    const elsewhere = pagesHolding(pages, q.evidence);
    problems.push(
      `${q.id}: "${q.evidence}" is not on page ${q.answer_pages.join(', ')} of ${manual.name}${elsewhere.length ? ` (it is on ${elsewhere.join(', ')})` : ''}`,
    );
  } else checked++;
  // A judged page stands on its own phrase: finding it on some other answer page would not show that this page answers.
  for (const judged of q.judged ?? []) {
    if (pages[judged.page - 1]?.includes(squash(judged.evidence))) judgedChecked++;
    else {
      const elsewhere = pagesHolding(pages, judged.evidence);
      problems.push(
        `${q.id}: judged "${judged.evidence}" is not on its page ${judged.page} of ${manual.name}${elsewhere.length ? ` (it is on ${elsewhere.join(', ')})` : ''}`,
      );
    }
  }
}
for (const line of problems) console.log(`FAIL ${line}`);
console.log(
  `${checked} answerable questions: evidence found on an answer page; ${judgedChecked} judged page(s): evidence found on that page; ${problems.length} problem(s); ${questions.length - questions.filter((q) => q.answerable).length} unanswerable`,
);
process.exitCode = problems.length ? 1 : 0;
