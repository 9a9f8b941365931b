/**
 * Held-out figures of the support classifier, as issue 12 asks for them: accuracy, precision and
 * recall of "support", a calibration table by confidence bucket, the precision of support verdicts
 * at confidence >= 0.9 (the send decision relies on it), and where the classifier role routes each
 * email (respond, respond for review, ignored). Shared by npm run train:classifier and the tests.
 */
import { reviewReason } from '../src/roles/classifier.js';
import { classifyLocally, supportModel, type SupportModel } from '../src/providers/llm/local-classifier.js';
import type { CorpusEmail } from './classifier-corpus.js';
import { confusionOf } from '../src/eval/metrics.js';

export type Route = 'respond' | 'review' | 'ignored';

export interface Judged {
  email: CorpusEmail;
  isSupport: boolean;
  /** Confidence of the verdict, as the classification carries it. */
  confidence: number;
  route: Route;
  reasoning: string;
}

export function judge(email: CorpusEmail, model: SupportModel = supportModel): Judged {
  const value = classifyLocally(email.input, model);
  const review = reviewReason(value, true);
  const route: Route = review ? 'review' : value.is_support_inquiry ? 'respond' : 'ignored';
  return { email, isSupport: value.is_support_inquiry, confidence: value.confidence, route, reasoning: value.reasoning };
}

export interface Figures {
  count: number;
  accuracy: number;
  precision: number;
  recall: number;
  confusion: { tp: number; fp: number; fn: number; tn: number };
  /** Support verdicts at confidence >= 0.9: how many, and the share that really is support. */
  confident: { count: number; support: number; precision: number };
  /** P(support) buckets: emails in each and the share labelled support. */
  calibration: Array<{ bucket: string; count: number; support: number }>;
  /** Where the role sends support and other emails. */
  routes: Record<'support' | 'other', Record<Route, number>>;
  /** SpamAssassin spam the role would let the responder answer without review. */
  spamAnsweredAutomatically: number;
}

const ratio = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

export function figures(judged: Judged[]): Figures {
  const isSupport = (entry: Judged) => entry.email.label === 'support';
  const { tp, fp, fn, tn } = confusionOf(judged.map((entry) => ({ predicted: entry.isSupport, actual: isSupport(entry) })));
  const confidentSupport = judged.filter((entry) => entry.isSupport && entry.confidence >= 0.9);
  const supportProbability = (entry: Judged) => (entry.isSupport ? entry.confidence : 1 - entry.confidence);
  const edges = [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001];
  const calibration = edges.slice(0, -1).map((low, index) => {
    const inBucket = judged.filter((entry) => supportProbability(entry) >= low && supportProbability(entry) < edges[index + 1]);
    return { bucket: `${low.toFixed(1)}-${Math.min(1, edges[index + 1]).toFixed(1)}`, count: inBucket.length, support: inBucket.filter(isSupport).length };
  });
  const routes = { support: { respond: 0, review: 0, ignored: 0 }, other: { respond: 0, review: 0, ignored: 0 } };
  for (const entry of judged) routes[entry.email.label][entry.route] += 1;
  return {
    count: judged.length,
    accuracy: ratio(tp + tn, judged.length),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    confusion: { tp, fp, fn, tn },
    confident: {
      count: confidentSupport.length,
      support: confidentSupport.filter(isSupport).length,
      precision: ratio(confidentSupport.filter(isSupport).length, confidentSupport.length),
    },
    calibration,
    routes,
    spamAnsweredAutomatically: judged.filter((entry) => entry.route === 'respond' && entry.email.id.startsWith('spamassassin:spam-')).length,
  };
}

export function formatFigures(title: string, result: Figures): string {
  const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
  const { tp, fp, fn, tn } = result.confusion;
  return [
    `${title}: ${result.count} emails`,
    `  accuracy               ${pct(result.accuracy)}`,
    `  precision (support)    ${pct(result.precision)}`,
    `  recall (support)       ${pct(result.recall)}`,
    `  (tp ${tp}, fp ${fp}, fn ${fn}, tn ${tn})`,
    `  support at conf >= 0.9 ${result.confident.support}/${result.confident.count} are support (${pct(result.confident.precision)})`,
    '  calibration, P(support) bucket: emails, labelled support',
    ...result.calibration.map(
      ({ bucket, count, support }) => `    ${bucket}  ${String(count).padStart(4)}  ${String(support).padStart(4)} (${pct(ratio(support, count))})`,
    ),
    `  routes of support emails: respond ${result.routes.support.respond}, review ${result.routes.support.review}, ignored ${result.routes.support.ignored}`,
    `  routes of other emails:   respond ${result.routes.other.respond}, review ${result.routes.other.review}, ignored ${result.routes.other.ignored}`,
    `  spam answered without review: ${result.spamAnsweredAutomatically}`,
  ].join('\n');
}
