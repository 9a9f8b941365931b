/**
 * Figures of a run, from what each question became. A retrieved or cited page counts only in the
 * question's own manual (`document_name`), so a page number that happens to match in another
 * manual of the mailbox is a miss.
 */
import type { Question } from '../features/eval-dataset.js';
import type { Decision, PipelineResult } from './pipeline-result.js';

export interface PageRef { manual: string; page: number }

export interface QuestionReport {
  id: string;
  manual: string | null;
  answerable: boolean;
  expected_pages: number[];
  /** The top RECALL_DEPTH pages retrieved, best first. */
  retrieved: Array<PageRef & { score: number }>;
  /** 1-based rank of the first retrieved answer page, or null. */
  hit_rank: number | null;
  /**
   * The same with the labels as first written (`answer_pages` without the pages added by pooled
   * judging, eval/judgements.md): pooling judged only what one run retrieved, so both are shown.
   */
  hit_rank_first_labels: number | null;
  decision: Decision;
  reason: string;
  confidence: number | null;
  top_score: number | null;
  first_cited: PageRef | null;
  /** Sent, answerable, and the first cited passage is on an answer page of the right manual. */
  sent_correct: boolean;
  /** The same with the labels as first written (see hit_rank_first_labels). */
  sent_correct_first_labels: boolean;
  reply: { subject: string; body: string } | null;
}

/** A count and what it is out of; `rate` is null when there is nothing to count. */
export interface Ratio { count: number; of: number; rate: number | null }
const ratio = (count: number, of: number): Ratio => ({ count, of, rate: of ? count / of : null });

export function questionReport(q: Question, retrieved: QuestionReport['retrieved'], result: PipelineResult): QuestionReport {
  const onAnswer = (ref: PageRef | undefined | null) => Boolean(ref && q.answerable && ref.manual === q.manual && q.answer_pages.includes(ref.page));
  const judged = new Set((q.judged ?? []).map((entry) => entry.page));
  const rank = retrieved.findIndex(onAnswer);
  const firstLabelsRank = retrieved.findIndex((ref) => onAnswer(ref) && !judged.has(ref.page));
  const firstCited = result.reply?.cited[0] ?? null;
  return {
    id: q.id, manual: q.manual ?? null, answerable: q.answerable, expected_pages: q.answer_pages, retrieved,
    hit_rank: rank >= 0 ? rank + 1 : null,
    hit_rank_first_labels: firstLabelsRank >= 0 ? firstLabelsRank + 1 : null,
    decision: result.decision, reason: result.reason, confidence: result.confidence,
    top_score: result.reply?.top_score ?? null, first_cited: firstCited,
    sent_correct: result.decision === 'sent' && onAnswer(firstCited),
    sent_correct_first_labels: result.decision === 'sent' && onAnswer(firstCited) && !judged.has(firstCited!.page),
    reply: result.reply && { subject: result.reply.subject, body: result.reply.body },
  };
}

export interface QuestionFigures {
  questions: number;
  answerable: number;
  unanswerable: number;
  recall_at_1: Ratio;
  recall_at_3: Ratio;
  recall_at_5: Ratio;
  /** Recall with the labels as first written, before pooled judging (see hit_rank_first_labels). */
  first_labels: { recall_at_1: Ratio; recall_at_3: Ratio; recall_at_5: Ratio; auto_precision: Ratio };
  decisions: Record<Decision, number>;
  /** Answerable questions auto-sent, out of the answerable. */
  auto_sent: Ratio;
  /** Auto-sent replies that were right, out of every auto-sent reply (answerable or not). */
  auto_precision: Ratio;
  unanswerable_sent: Ratio;
  /** Recall and auto-sent share of the answerable questions of each manual (languages apart). */
  by_manual: Record<string, { recall_at_1: Ratio; recall_at_3: Ratio; recall_at_5: Ratio; auto_sent: Ratio }>;
}

export function questionFigures(reports: QuestionReport[]): QuestionFigures {
  const answerable = reports.filter((r) => r.answerable);
  const recallAt = (k: number, of = answerable) => ratio(of.filter((r) => r.hit_rank !== null && r.hit_rank <= k).length, of.length);
  const firstLabelsAt = (k: number) => ratio(answerable.filter((r) => r.hit_rank_first_labels !== null && r.hit_rank_first_labels <= k).length, answerable.length);
  const sentOf = (of: QuestionReport[]) => ratio(of.filter((r) => r.decision === 'sent').length, of.length);
  const manuals = [...new Set(answerable.map((r) => r.manual!))];
  const byManual = Object.fromEntries(manuals.map((manual) => {
    const of = answerable.filter((r) => r.manual === manual);
    return [manual, { recall_at_1: recallAt(1, of), recall_at_3: recallAt(3, of), recall_at_5: recallAt(5, of), auto_sent: sentOf(of) }];
  }));
  const decisions: Record<Decision, number> = { sent: 0, drafted: 0, handed_off: 0, ignored: 0, error: 0 };
  for (const r of reports) decisions[r.decision] += 1;
  return {
    questions: reports.length,
    answerable: answerable.length,
    unanswerable: reports.length - answerable.length,
    recall_at_1: recallAt(1), recall_at_3: recallAt(3), recall_at_5: recallAt(5),
    first_labels: {
      recall_at_1: firstLabelsAt(1),
      recall_at_3: firstLabelsAt(3),
      recall_at_5: firstLabelsAt(5),
      auto_precision: ratio(reports.filter((r) => r.sent_correct_first_labels).length, decisions.sent),
    },
    decisions,
    auto_sent: sentOf(answerable),
    auto_precision: ratio(reports.filter((r) => r.sent_correct).length, decisions.sent),
    unanswerable_sent: ratio(reports.filter((r) => !r.answerable && r.decision === 'sent').length, reports.length - answerable.length),
    by_manual: byManual,
  };
}

export interface ClassifierFigures {
  emails: number;
  accuracy: Ratio;
  /** Support is the positive class. */
  precision: Ratio;
  recall: Ratio;
  confusion: { tp: number; fp: number; fn: number; tn: number };
  /** How many the poller would skip as automated mail before the classifier. */
  automated: number;
  /** Routed to a person for review (unsure, or a language the model cannot judge), by label. */
  review: { support: number; not_support: number };
  misclassified: Array<{ id: string; label: string; subject: string }>;
}

/** Support is the positive class: true/false positives and negatives of `predicted` against `actual`. */
export function confusionOf(pairs: Array<{ predicted: boolean; actual: boolean }>): { tp: number; fp: number; fn: number; tn: number } {
  const confusion = { tp: 0, fp: 0, fn: 0, tn: 0 };
  for (const { predicted, actual } of pairs) {
    if (predicted && actual) confusion.tp++; else if (predicted) confusion.fp++; else if (actual) confusion.fn++; else confusion.tn++;
  }
  return confusion;
}

export function classifierFigures(results: Array<{ id: string; label: 'support' | 'not_support'; subject: string; is_support: boolean; review?: boolean; automated: string | null }>): ClassifierFigures {
  const confusion = confusionOf(results.map((r) => ({ predicted: r.is_support, actual: r.label === 'support' })));
  const { tp, fp, fn, tn } = confusion;
  return {
    emails: results.length,
    accuracy: ratio(tp + tn, results.length),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    confusion,
    automated: results.filter((r) => r.automated).length,
    review: { support: results.filter((r) => r.review && r.label === 'support').length, not_support: results.filter((r) => r.review && r.label !== 'support').length },
    misclassified: results.filter((r) => r.is_support !== (r.label === 'support')).map(({ id, label, subject }) => ({ id, label, subject })),
  };
}

/** A limit a flag sets on one figure: `min` on a rate, `max` on a count. */
export interface Threshold { flag: string; figure: string; kind: 'min' | 'max'; limit: number }

/** The flags that set limits, and the figure each reads (a rate, or for `max` a count). */
export const THRESHOLD_FLAGS = {
  'min-recall-at-1': { figure: 'recall_at_1', kind: 'min' },
  'min-recall-at-3': { figure: 'recall_at_3', kind: 'min' },
  'min-recall-at-5': { figure: 'recall_at_5', kind: 'min' },
  'min-auto-sent': { figure: 'auto_sent', kind: 'min' },
  'min-auto-precision': { figure: 'auto_precision', kind: 'min' },
  'max-unanswerable-sent': { figure: 'unanswerable_sent', kind: 'max' },
  'min-classifier-accuracy': { figure: 'classifier_accuracy', kind: 'min' },
  'min-classifier-precision': { figure: 'classifier_precision', kind: 'min' },
  'min-classifier-recall': { figure: 'classifier_recall', kind: 'min' },
} as const;

export interface ThresholdResult extends Threshold { value: number | null; passed: boolean }

/**
 * Checks each limit. A rate with nothing to count (no auto-sent reply for precision) fails a `min`
 * limit: a run that sends nothing has shown no precision. A figure the run did not measure fails too.
 */
export function checkThresholds(thresholds: Threshold[], figures: Partial<Record<string, Ratio>>): ThresholdResult[] {
  return thresholds.map((t) => {
    const figure = figures[t.figure];
    const value = figure ? (t.kind === 'max' ? figure.count : figure.rate) : null;
    const passed = value !== null && (t.kind === 'min' ? value >= t.limit : value <= t.limit);
    return { ...t, value, passed };
  });
}
