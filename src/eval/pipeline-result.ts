/**
 * What the evaluation's run of one email gave: src/eval/harness.ts makes it, src/eval/metrics.ts
 * counts it. Kept apart from the harness so the figures do not import a composition root (the
 * harness builds providers and handlers from the configuration and sits with src/app in the
 * layers: docs/ARCHITECTURE.md#layers).
 */

export type Decision = 'sent' | 'drafted' | 'handed_off' | 'ignored' | 'error';

export interface PipelineResult {
  decision: Decision;
  /** Why it was not sent (the sender's reason, the classifier's category, an error), or ''. */
  reason: string;
  /** Why the poller would skip it as automated mail before the classifier, or null. */
  automated: string | null;
  is_support: boolean | null;
  confidence: number | null;
  /** What the sender was given: the reply and the passages it used. */
  reply: { subject: string; body: string; top_score: number; cited: Array<{ manual: string; page: number }> } | null;
}
