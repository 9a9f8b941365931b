/** The evaluation's printed report: a line per question, then the figures and the limits. */
import type { ClassifierFigures, QuestionFigures, QuestionReport, Ratio, ThresholdResult } from './metrics.js';

const pct = (r: Ratio) => `${r.count}/${r.of} (${r.rate === null ? 'n/a' : `${(100 * r.rate).toFixed(1)}%`})`;
const pad = (text: string, width: number) => text.padEnd(width);
const REASON_WIDTH = 110;

function questionLine(r: QuestionReport): string {
  // A page of another manual than the question's is marked: it cannot count.
  const mark = (ref: { manual: string; page: number }) => `${ref.page}${r.manual && ref.manual !== r.manual ? '*' : ''}`;
  const retrieved = r.retrieved.map(mark).join(',') || '-';
  const cited = r.first_cited ? mark(r.first_cited) : '-';
  // The full reason is in the JSON report; a line shows its start.
  const reason = r.reason.length > REASON_WIDTH ? `${r.reason.slice(0, REASON_WIDTH - 1)}…` : r.reason;
  const decision = `${r.decision}${r.sent_correct ? ' (correct)' : ''}${reason ? ` (${reason})` : ''}`;
  return `  ${pad(r.id, 9)} ${pad(r.manual ?? '-', 28)} expect=${pad(r.expected_pages.join(',') || '-', 9)} top5=${pad(retrieved, 22)} hit=${r.hit_rank ?? '-'}  score=${r.top_score?.toFixed(2) ?? '-'}  cited=${pad(cited, 4)} ${decision}`;
}

export function printQuestions(reports: QuestionReport[], figures: QuestionFigures, print: (line: string) => void): void {
  print('\nper question (top5 = pages retrieved, * = a page of another manual; hit = rank of the first answer page):');
  for (const r of reports) print(questionLine(r));
  print(`\nretrieval (${figures.answerable} answerable questions, k = 5):`);
  // Pooled judging added pages that one run retrieved (eval/judgements.md): the first labels' figure stays beside it.
  const pooled = (['recall_at_1', 'recall_at_3', 'recall_at_5'] as const).some((key) => figures.first_labels[key].count !== figures[key].count);
  for (const [label, key] of [['recall@1', 'recall_at_1'], ['recall@3', 'recall_at_3'], ['recall@5', 'recall_at_5']] as const) {
    print(`  ${pad(label, 30)}${pad(pct(figures[key]), 16)}${pooled ? `  labels as first written: ${pct(figures.first_labels[key])}` : ''}`);
  }
  const short = (r: Ratio) => `${r.count}/${r.of}`;
  for (const [manual, m] of Object.entries(figures.by_manual)) {
    print(`  ${pad(manual, 30)}recall@1 ${pad(short(m.recall_at_1), 6)} @3 ${pad(short(m.recall_at_3), 6)} @5 ${pad(short(m.recall_at_5), 6)} auto-sent ${short(m.auto_sent)}`);
  }
  print('decisions (auto mode, all questions):');
  print(`  ${Object.entries(figures.decisions).map(([name, count]) => `${name} ${count}`).join(', ')}`);
  print('auto mode:');
  print(`  auto-sent (answerable)        ${pct(figures.auto_sent)}`);
  print(
    `  auto-send precision           ${pct(figures.auto_precision)}  (of all auto-sent: first cited passage on an answer page of the right manual)${pooled ? `; labels as first written: ${pct(figures.first_labels.auto_precision)}` : ''}`,
  );
  print(`  unanswerable auto-sent        ${pct(figures.unanswerable_sent)}  (should be 0)`);
  const samples = reports.filter((r) => r.decision === 'sent').slice(0, 3);
  if (samples.length) print('\nreplies it would auto-send (the first three, in question order):');
  for (const r of samples) print(`\n--- ${r.id} (correct: ${r.sent_correct ? 'yes' : 'no'}): ${r.reply?.subject}\n${r.reply?.body}`);
}

export function printClassifier(figures: ClassifierFigures, print: (line: string) => void): void {
  print(`\nclassifier (${figures.emails} labelled emails, support = positive):`);
  print(`  accuracy                      ${pct(figures.accuracy)}`);
  print(`  precision                     ${pct(figures.precision)}`);
  print(`  recall                        ${pct(figures.recall)}`);
  const { tp, fp, fn, tn } = figures.confusion;
  print(`  (tp ${tp}, fp ${fp}, fn ${fn}, tn ${tn}; the poller would skip ${figures.automated} of them as automated mail before the classifier)`);
  print(`  sent to review instead of decided: ${figures.review.support} support, ${figures.review.not_support} other (never ignored, never auto-sent)`);
  for (const m of figures.misclassified) print(`  misclassified: ${m.id} (${m.label}) ${m.subject}`);
}

export function printThresholds(results: ThresholdResult[], print: (line: string) => void): void {
  if (!results.length) return;
  print('\nlimits:');
  for (const r of results) {
    const value = r.value === null ? 'not measured' : r.kind === 'max' ? String(r.value) : r.value.toFixed(3);
    print(`  ${r.passed ? 'pass' : 'FAIL'}  --${r.flag} ${r.limit}: ${value}`);
  }
}
