import { test } from 'node:test';
import assert from 'node:assert/strict';
import { questionSchema } from '../../src/features/eval-dataset.js';
import type { PipelineResult } from '../../src/eval/pipeline-result.js';
import { questionFigures, questionReport } from '../../src/eval/metrics.js';

const drafted: PipelineResult = { decision: 'drafted', reason: '', automated: null, is_support: true, confidence: 0.7, reply: null };
const question = (id: string, answerPages: number[], judged: number[] = []) =>
  questionSchema.parse({
    id,
    from: 'c@example.org',
    subject: 's',
    body: 'b',
    manual: 'gnuplot.pdf',
    answer_pages: answerPages,
    evidence: 'e',
    judged: judged.map((page) => ({ page, evidence: 'j', note: 'n' })),
  });
const retrieved = (...pages: number[]) => pages.map((page) => ({ manual: 'gnuplot.pdf', page, score: 0.5 }));

test('a page added by pooled judging counts in recall, and the first labels are measured beside it', () => {
  const reports = [
    // The judged continuation page first, the first-written page second.
    questionReport(question('q1', [154, 155], [155]), retrieved(155, 154, 10), drafted),
    // Only the judged page retrieved: a hit now, a miss with the first labels.
    questionReport(question('q2', [39, 40], [40]), retrieved(22, 40, 29, 16, 19), drafted),
    // No judged page: both the same.
    questionReport(question('q3', [7]), retrieved(7), drafted),
  ];
  assert.deepEqual(
    reports.map((report) => [report.hit_rank, report.hit_rank_first_labels]),
    [
      [1, 2],
      [2, null],
      [1, 1],
    ],
  );
  const figures = questionFigures(reports);
  assert.equal(figures.recall_at_1.count, 2);
  assert.equal(figures.first_labels.recall_at_1.count, 1);
  assert.equal(figures.recall_at_3.count, 3);
  assert.equal(figures.first_labels.recall_at_3.count, 2);
  assert.equal(figures.first_labels.recall_at_3.of, 3);
});
