/**
 * The one decision about a reply: send it, leave it as a draft for a person, or hand the email off
 * because the manuals hold no answer. It is made once, by the responder, from every signal there
 * is; the sender then applies the mailbox's mode on top (a draft-mode mailbox never sends). Every
 * reason is kept, passing ones too, so the email's journey shows why.
 */
import type { ReplyVerdict } from '../providers/llm/spec.js';

export type ReplyAction = 'send' | 'draft' | 'handoff';

/** The decision and why, as it travels in `generated_response.decision` and the `replied` event. */
export interface ReplyDecision {
  action: ReplyAction;
  /** Failing checks for a draft or hand-off; every check that passed for a send. */
  reasons: string[];
}

/** Thresholds of the decision (AUTO_SEND_* in config.ts; calibrated on the dev set, see EVALUATION.md). */
export interface DecisionPolicy {
  /** Least classification confidence. */
  minClassificationConfidence: number;
  /** Least relevance of the best passage. */
  minRelevance: number;
  /** Least lead of the best passage over the next one from another page. */
  minMargin: number;
  /** Least share of the question's words found in the passages the reply cites. */
  minCoverage: number;
  /** Least confidence the model gives its own reply. */
  minModelConfidence: number;
  /** Providers whose replies are always drafts (the local model, as a fallback, when SEND_POLICY was left unset). */
  draftProviders?: string[];
}

/** What is known about a reply. Signals an older message lacks are left out and not judged. */
export interface DecisionSignals {
  /** Passages above the relevance threshold; 0 means nothing in the manuals is about the email. */
  relevantPassages: number;
  /** Relevance of the best passage. */
  topScore: number;
  margin?: number;
  coverage?: number;
  verdict?: ReplyVerdict;
  /** Problems the reply check found (reply-check.ts). */
  problems?: string[];
  classification: { confidence: number; review_reason?: string };
  /** The provider that wrote the reply. */
  provider?: string;
}

const figure = (value: number) => value.toFixed(2);

/** Decides what becomes of a reply (see the top of this file). */
export function decideReply(signals: DecisionSignals, policy: DecisionPolicy): ReplyDecision {
  if (signals.relevantPassages === 0) return { action: 'handoff', reasons: ['nothing relevant in the manuals'] };
  if (signals.verdict && !signals.verdict.answerable) {
    return { action: 'handoff', reasons: ['the model says the passages do not answer the question'] };
  }
  const passed: string[] = [];
  const failed: string[] = [];
  const judge = (value: number | undefined, minimum: number, name: string) => {
    if (value === undefined) return;
    (value >= minimum ? passed : failed).push(`${name} ${figure(value)} ${value >= minimum ? '≥' : 'below'} ${minimum}`);
  };
  const { classification } = signals;
  if (classification.review_reason) failed.push(`the classifier asks for review: ${classification.review_reason}`);
  if (signals.provider && policy.draftProviders?.includes(signals.provider)) {
    failed.push(`written by the ${signals.provider} model, whose replies are drafts unless SEND_POLICY is set`);
  }
  judge(classification.confidence, policy.minClassificationConfidence, 'classification confidence');
  judge(signals.topScore, policy.minRelevance, 'retrieval score');
  judge(signals.margin, policy.minMargin, 'margin to the next passage');
  judge(signals.coverage, policy.minCoverage, 'question covered by the cited passages');
  judge(signals.verdict?.confidence, policy.minModelConfidence, 'model confidence');
  if (signals.problems) {
    if (signals.problems.length === 0) passed.push('every claim cites a passage that supports it');
    failed.push(...signals.problems);
  }
  return failed.length > 0 ? { action: 'draft', reasons: failed } : { action: 'send', reasons: passed };
}
