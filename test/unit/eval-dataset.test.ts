/**
 * Pooled judging adds answer pages to the dev set (eval/README.md, "Pooled judging"). A judged page
 * must be counted by the metrics, which read only `answer_pages`, and must carry its own evidence
 * so that scripts/check-eval-pages.ts can check it against that page: a judged entry outside
 * `answer_pages`, judged twice, or without evidence is a mistake in the file, reported with its line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatasetError, questionSchema, readJsonl } from '../../src/features/eval-dataset.js';

const question = {
  id: 'q01',
  from: 'customer@example.org',
  subject: 'Legend',
  body: 'How do I hide the legend?',
  manual: 'gnuplot.pdf',
  answer_pages: [158, 160],
  evidence: 'set key off',
};
const judged = { page: 160, evidence: 'unset key', note: 'key examples' };

test('a judged page that is one of the answer_pages, with its evidence and note, is read as written', () => {
  const parsed = questionSchema.parse({ ...question, judged: [judged] });
  assert.deepEqual(parsed.judged, [judged]);
  assert.deepEqual(parsed.answer_pages, [158, 160]);
});

test('a question without judged pages stays valid (the field is optional)', () => {
  assert.equal(questionSchema.parse(question).judged, undefined);
});

test('a judged page missing from answer_pages is refused: the metrics would not count it', () => {
  const result = questionSchema.safeParse({ ...question, answer_pages: [158], judged: [judged] });
  assert.equal(result.success, false);
  assert.match(JSON.stringify(result.error?.issues), /every judged page is also one of the answer_pages/);
});

test('a page judged twice, or a judged page without evidence or note, is refused', () => {
  assert.equal(questionSchema.safeParse({ ...question, judged: [judged, judged] }).success, false);
  assert.equal(questionSchema.safeParse({ ...question, judged: [{ page: 160, note: 'key examples' }] }).success, false);
  assert.equal(questionSchema.safeParse({ ...question, judged: [{ page: 160, evidence: 'unset key' }] }).success, false);
});

test('readJsonl names the file and line of a judged page outside answer_pages', async (t) => {
  const folder = await mkdtemp(path.join(tmpdir(), 'ragmail-dataset-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  const file = path.join(folder, 'questions.jsonl');
  await writeFile(file, `${JSON.stringify(question)}\n${JSON.stringify({ ...question, id: 'q02', answer_pages: [158], judged: [judged] })}\n`);
  await assert.rejects(
    readJsonl(file, questionSchema),
    (error: unknown) => error instanceof DatasetError && /questions\.jsonl:2: .*judged/.test(error.message),
  );
});
