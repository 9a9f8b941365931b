/**
 * What one email's summary row is made of, and how each stage's event fills it in: the order of
 * states ({@link STAGE_RANK}), the final states, and the columns and outcome line a stage sets.
 *
 * The summary reads these keys of `event.detail` (others are kept in the event only):
 * - received, skipped: `{from, subject, received_at, priority, reason?}`
 * - classified, ignored: `{is_support_inquiry, category, confidence, reasoning}`
 * - retrieved: `{top_score, chunks}` (a count, or an array whose length is counted)
 * - replied: `{handoff, excerpt, citations: [{source, page}]}` (its `decision: {action, reasons}` is
 *   shown in the email's journey, and a draft's reasons reach the outcome line through the sender's `reason`)
 * - sent, drafted, handed_off: `{mode, message_id}`
 * - dead_lettered: `{error_message, error_type, queue}`
 * - review_rejected (state `rejected`): `{by, note}`
 */

/**
 * Where each email stage sits in the flow; the single source of the state order. A stage becomes
 * the email's state when its rank is higher than the current one (or equal and newer), so a late
 * `classified` never overwrites `sent`. `dead_lettered` ranks below the other final states because
 * a message replayed from the dead-letter queue may still end well; a reviewed draft that is sent
 * later ends as `sent`.
 */
export const STAGE_RANK: Readonly<Record<string, number>> = {
  received: 1, classified: 2, retrieved: 3, replied: 4,
  dead_lettered: 5,
  skipped: 6, ignored: 6, handed_off: 6, drafted: 6, shadowed: 6, rejected: 6,
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

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const number = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const flag = (value: unknown): number | null => (typeof value === 'boolean' ? Number(value) : null);

function citationsOf(value: unknown): Citation[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    if (!item || typeof item !== 'object') return [];
    const record = item as Record<string, unknown>;
    const source = text(record.source);
    const title = text(record.title);
    return source === null ? [] : [{ source, page: number(record.page), ...(title === null ? {} : { title }) }];
  });
}

/** The summary columns a stage's `detail` fills in (keys listed at the top of this file). */
export function stageColumns(stage: string, detail: Record<string, unknown>): Row {
  switch (stage) {
    case 'received':
    case 'skipped':
      return { from_address: text(detail.from), subject: text(detail.subject),
        received_at: text(detail.received_at), priority: number(detail.priority) };
    case 'classified':
    case 'ignored':
      return { is_support_inquiry: flag(detail.is_support_inquiry), category: text(detail.category),
        confidence: number(detail.confidence), reasoning: text(detail.reasoning) };
    case 'retrieved': {
      const chunks = detail.chunks;
      const chunkCount = Array.isArray(chunks) ? chunks.length : number(chunks);
      return { top_score: number(detail.top_score), chunk_count: chunkCount };
    }
    case 'replied':
      return { handoff: flag(detail.handoff), reply_excerpt: text(detail.excerpt)?.slice(0, EXCERPT_LIMIT) ?? null,
        citations: JSON.stringify(citationsOf(detail.citations)) };
    case 'sent':
    case 'drafted':
    case 'handed_off':
    case 'shadowed':
      return { send_mode: text(detail.mode), sent_message_id: text(detail.message_id) };
    case 'dead_lettered':
      return { error_message: text(detail.error_message), error_type: text(detail.error_type) };
    default:
      return {};
  }
}

export function outcomeOf(stage: string, detail: Record<string, unknown>): string {
  const mode = text(detail.mode);
  switch (stage) {
    case 'skipped': return `skipped: ${text(detail.reason) ?? 'automated or unsupported mail'}`;
    case 'ignored': return `ignored: ${text(detail.category) ?? 'not a support inquiry'}`;
    case 'dead_lettered':
      return `dead-lettered from ${text(detail.queue) ?? 'unknown queue'}: ${text(detail.error_type) ?? 'error'}`;
    case 'review_rejected': {
      const note = text(detail.note);
      return `rejected by ${text(detail.by) ?? 'a reviewer'}${note ? `: ${note}` : ''}`;
    }
    default: {
      const reason = text(detail.reason);
      return `${mode === null ? stage : `${stage} (${mode})`}${reason ? `: ${reason}` : ''}`;
    }
  }
}
