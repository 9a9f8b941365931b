/**
 * What one email's summary row is made of, and how each stage's event fills it in: the order of
 * states ({@link STAGE_RANK}), the final states, and the columns and outcome line a stage sets.
 *
 * The columns come from these fields of a stage's `detail` (src/pipeline/events.ts says what each
 * stage writes, src/pipeline/event-reading.ts how they are read; others are kept in the event only):
 * - received, skipped: `{from, subject, received_at, priority, reason?}`
 * - classified, ignored: `{is_support_inquiry, category, confidence, reasoning}`
 * - retrieved: `{top_score, chunks}` (a count, or an array whose length is counted)
 * - replied: `{handoff, excerpt, citations: [{source, page}]}` (its `decision: {action, reasons}` is
 *   shown in the email's journey, and a draft's reasons reach the outcome line through the sender's `reason`)
 * - sent, drafted, handed_off: `{mode, message_id}`
 * - dead_lettered: `{error_message, error_type, queue}`
 * - review_rejected (state `rejected`): `{by, note}`
 */
import { isStage, type PipelineEvent } from '../pipeline/events.js';

/**
 * Where each email stage sits in the flow; the single source of the state order. A stage becomes
 * the email's state when its rank is higher than the current one (or equal and newer), so a late
 * `classified` never overwrites `sent`. `dead_lettered` ranks below the other final states because
 * a message replayed from the dead-letter queue may still end well; a reviewed draft that is sent
 * later ends as `sent`.
 */
export const STAGE_RANK: Readonly<Record<string, number>> = {
  received: 1,
  classified: 2,
  retrieved: 3,
  replied: 4,
  dead_lettered: 5,
  skipped: 6,
  ignored: 6,
  handed_off: 6,
  drafted: 6,
  shadowed: 6,
  rejected: 6,
  sent: 7,
};

/** Stages whose event is named otherwise than the state it puts the email in. */
const STATE_OF_STAGE: Readonly<Record<string, string>> = { review_rejected: 'rejected' };

/** The state an event of `stage` moves its email to (when the state is in {@link STAGE_RANK}). */
export function stateOfStage(stage: string): string {
  return STATE_OF_STAGE[stage] ?? stage;
}

/** States after which nothing more happens to an email unless it is replayed. */
export const FINAL_STATES = ['sent', 'drafted', 'handed_off', 'shadowed', 'ignored', 'skipped', 'dead_lettered', 'rejected'] as const;
/** One of {@link FINAL_STATES}. */
export type FinalState = (typeof FINAL_STATES)[number];

/** True when `state` is one of {@link FINAL_STATES}. */
export function isFinal(state: string): state is FinalState {
  return (FINAL_STATES as readonly string[]).includes(state);
}

/** A source the reply cited. */
export interface Citation {
  source: string;
  page: number | null;
  /** The document's title, shown instead of the file name when known. */
  title?: string;
}

/** What one stage contributed: who did it and how long it took. */
export interface StageRecord {
  timestamp: string;
  provider: string | null;
  model: string | null;
  duration_ms: number | null;
}

/** The summary row of one email. Fields stay null until the stage that carries them is recorded. */
export interface EmailSummary {
  email_id: string;
  agent_email: string | null;
  from: string | null;
  subject: string | null;
  received_at: string | null;
  priority: number | null;
  /** The latest meaningful stage, ordered by {@link STAGE_RANK}. */
  state: string;
  is_support_inquiry: boolean | null;
  category: string | null;
  confidence: number | null;
  reasoning: string | null;
  top_score: number | null;
  chunk_count: number | null;
  handoff: boolean | null;
  reply_excerpt: string | null;
  citations: Citation[];
  send_mode: string | null;
  sent_message_id: string | null;
  /** One line saying how the email ended, set by the final state. */
  outcome: string | null;
  error_message: string | null;
  error_type: string | null;
  /** Provider, model and duration per stage name. */
  stages: Record<string, StageRecord>;
  first_seen_at: string;
  updated_at: string;
}

/** Longest reply excerpt kept: the log is for finding an email, not for archiving replies. */
const EXCERPT_LIMIT = 1000;

export type Row = Record<string, string | number | null>;

/** The summary columns an event's stage fills in from its `detail` (fields listed at the top of this file). */
export function stageColumns(event: PipelineEvent): Row {
  if (isStage(event, 'received', 'skipped')) {
    const { from, subject, received_at: receivedAt, priority } = event.detail;
    return { from_address: from ?? null, subject: subject ?? null, received_at: receivedAt ?? null, priority: priority ?? null };
  }
  if (isStage(event, 'classified', 'ignored')) {
    const { is_support_inquiry: isSupport, category, confidence, reasoning } = event.detail;
    return {
      is_support_inquiry: isSupport === undefined ? null : Number(isSupport),
      category: category ?? null,
      confidence: confidence ?? null,
      reasoning: reasoning ?? null,
    };
  }
  if (isStage(event, 'retrieved')) {
    const { chunks, top_score: topScore } = event.detail;
    return { top_score: topScore ?? null, chunk_count: Array.isArray(chunks) ? chunks.length : (chunks ?? null) };
  }
  if (isStage(event, 'replied')) {
    const { handoff, excerpt, citations = [] } = event.detail;
    const cited: Citation[] = citations.map(({ source, page, title }) => ({ source, page, ...(title === undefined ? {} : { title }) }));
    return {
      handoff: handoff === undefined ? null : Number(handoff),
      reply_excerpt: excerpt?.slice(0, EXCERPT_LIMIT) ?? null,
      citations: JSON.stringify(cited),
    };
  }
  if (isStage(event, 'sent', 'drafted', 'handed_off', 'shadowed')) {
    return { send_mode: event.detail.mode ?? null, sent_message_id: event.detail.message_id ?? null };
  }
  if (isStage(event, 'dead_lettered')) {
    return { error_message: event.detail.error_message ?? null, error_type: event.detail.error_type ?? null };
  }
  return {};
}

/** The outcome line of an event that puts its email in a final state. */
export function outcomeOf(event: PipelineEvent): string {
  if (isStage(event, 'skipped')) return `skipped: ${event.detail.reason ?? 'automated or unsupported mail'}`;
  if (isStage(event, 'ignored')) return `ignored: ${event.detail.category ?? 'not a support inquiry'}`;
  if (isStage(event, 'dead_lettered')) {
    return `dead-lettered from ${event.detail.queue ?? 'unknown queue'}: ${event.detail.error_type ?? 'error'}`;
  }
  if (isStage(event, 'review_rejected')) {
    const { by, note } = event.detail;
    return `rejected by ${by ?? 'a reviewer'}${note ? `: ${note}` : ''}`;
  }
  const { mode, reason } = isStage(event, 'sent', 'drafted', 'handed_off', 'shadowed') ? event.detail : {};
  return `${mode === undefined ? event.stage : `${event.stage} (${mode})`}${reason ? `: ${reason}` : ''}`;
}
