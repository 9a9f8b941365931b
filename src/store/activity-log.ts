/**
 * The activity log: every pipeline event, and one summary row per email that says where it stands.
 * Events come from the `events.audit` stream, so they may arrive twice and out of order: recording
 * is idempotent by `event_id`, and the summary's state only moves forward along {@link STAGE_RANK}.
 *
 * The summary reads these keys of `event.detail` (others are kept in the event only):
 * - received, skipped: `{from, subject, received_at, priority, reason?}`
 * - classified, ignored: `{is_support_inquiry, category, confidence, reasoning}`
 * - retrieved: `{top_score, chunks}` (a count, or an array whose length is counted)
 * - replied: `{handoff, excerpt, citations: [{source, page}]}`
 * - sent, drafted, handed_off: `{mode, message_id}`
 * - dead_lettered: `{error_message, error_type, queue}`
 * - review_rejected (state `rejected`): `{by, note}`
 */
import type { PipelineEvent } from '../messaging/schemas.js';
import { immediate, type Database } from './database.js';

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

/** Filters of {@link ActivityLog.listEmails}; all optional and combined with AND. */
export interface EmailFilter {
  agentEmail?: string;
  state?: string;
  category?: string;
  /** Case-insensitive substring of subject, sender, email id or reply excerpt. */
  search?: string;
  /** Default 50, at most 500. */
  limit?: number;
  offset?: number;
}

/** Longest reply excerpt kept: the log is for finding an email, not for archiving replies. */
const EXCERPT_LIMIT = 1000;

type Row = Record<string, string | number | null>;

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const number = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);
const flag = (value: unknown): number | null => (typeof value === 'boolean' ? Number(value) : null);

function citationsOf(value: unknown): Citation[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    if (!item || typeof item !== 'object') return [];
    const record = item as Record<string, unknown>;
    const source = text(record.source);
    return source === null ? [] : [{ source, page: number(record.page) }];
  });
}

/** The summary columns a stage's `detail` fills in (keys listed at the top of this file). */
function stageColumns(stage: string, detail: Record<string, unknown>): Row {
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

function outcomeOf(stage: string, detail: Record<string, unknown>): string {
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

/** The stored stage map without its internal sort key. */
function publicStages(json: string): Record<string, StageRecord> {
  const stored = JSON.parse(json) as Record<string, StageRecord & { at_ms?: number }>;
  return Object.fromEntries(Object.entries(stored).map(([stage, { at_ms: _sortKey, ...record }]) => [stage, record]));
}

/** The summary columns under their public names; booleans and JSON are converted in {@link toSummary}. */
const SUMMARY_COLUMNS = `email_id, agent_email, from_address AS "from", subject, received_at, priority, state,
  is_support_inquiry, category, confidence, reasoning, top_score, chunk_count, handoff, reply_excerpt, citations,
  send_mode, sent_message_id, outcome, error_message, error_type, stages, first_seen_at, updated_at`;

function toSummary(row: Row): EmailSummary {
  const bool = (value: string | number | null): boolean | null => (value === null ? null : value === 1);
  return {
    ...(row as unknown as EmailSummary),
    is_support_inquiry: bool(row.is_support_inquiry),
    handoff: bool(row.handoff),
    citations: row.citations === null ? [] : (JSON.parse(String(row.citations)) as Citation[]),
    stages: publicStages(String(row.stages)),
  };
}

/**
 * The detail kept in the events table: the full message a `received` event carries for replay
 * (email body included) stays in the audit stream only, not in the log.
 */
function storedDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const { message: _message, ...rest } = detail;
  return rest;
}

/** The activity log over one open database (see `openDatabase`). */
export class ActivityLog {
  constructor(private readonly database: Database) {}

  /**
   * Records one event and folds it into its email's summary.
   * @returns false when an event with the same `event_id` was already recorded (nothing changes).
   */
  record(event: PipelineEvent): boolean {
    const now = new Date().toISOString();
    const parsed = Date.parse(event.timestamp);
    // An unparseable timestamp still has to sort somewhere: arrival time is the best guess.
    const timestampMs = Number.isNaN(parsed) ? Date.now() : parsed;
    return immediate(this.database, () => {
      const inserted = this.database.prepare(`INSERT OR IGNORE INTO events
        (event_id, timestamp, timestamp_ms, stage, email_id, document_id, agent_email, role,
         duration_ms, provider, model, detail, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        event.event_id, event.timestamp, timestampMs, event.stage, event.email_id, event.document_id,
        event.agent_email, event.role, event.duration_ms, event.provider, event.model,
        JSON.stringify(storedDetail(event.detail ?? {})), now);
      if (inserted.changes === 0) return false;
      // A shadow replay is recorded in the timeline but does not rewrite how the email ended.
      if (event.email_id !== null && STAGE_RANK[stateOfStage(event.stage)] !== undefined && !('replay' in (event.detail ?? {}))) {
        this.foldIntoSummary(event, event.email_id, timestampMs, now);
      }
      return true;
    });
  }

  private foldIntoSummary(event: PipelineEvent, emailId: string, timestampMs: number, now: string): void {
    const state = stateOfStage(event.stage);
    const rank = STAGE_RANK[state];
    const existing = this.database.prepare('SELECT * FROM emails WHERE email_id = ?').get(emailId) as Row | undefined;
    const row: Row = existing ?? { email_id: emailId, state, state_rank: 0, state_at_ms: 0,
      stages: '{}', first_seen_at: now };
    const stages = JSON.parse(String(row.stages)) as Record<string, StageRecord & { at_ms: number }>;
    const previous = stages[event.stage];
    // A stage seen twice (a redelivery) keeps the newer run's data, whatever order they arrive in.
    if (previous === undefined || timestampMs >= previous.at_ms) {
      Object.assign(row, stageColumns(event.stage, event.detail ?? {}));
      stages[event.stage] = { timestamp: event.timestamp, at_ms: timestampMs, provider: event.provider,
        model: event.model, duration_ms: event.duration_ms };
    }
    const stateRank = Number(row.state_rank);
    if (rank > stateRank || (rank === stateRank && timestampMs >= Number(row.state_at_ms))) {
      Object.assign(row, { state, state_rank: rank, state_at_ms: timestampMs });
      if (isFinal(state)) row.outcome = outcomeOf(event.stage, event.detail ?? {});
    }
    row.agent_email = row.agent_email ?? event.agent_email;
    row.stages = JSON.stringify(stages);
    row.updated_at = now;
    const columns = Object.keys(row);
    this.database.prepare(`INSERT OR REPLACE INTO emails (${columns.join(', ')})
      VALUES (${columns.map((column) => `@${column}`).join(', ')})`).run(row);
  }

  /** The summary of one email, or undefined when no event about it was recorded. */
  getEmail(emailId: string): EmailSummary | undefined {
    const row = this.database.prepare(`SELECT ${SUMMARY_COLUMNS} FROM emails WHERE email_id = ?`)
      .get(emailId) as Row | undefined;
    return row === undefined ? undefined : toSummary(row);
  }

  /** Emails matching `filter`, newest received first. */
  listEmails(filter: EmailFilter = {}): EmailSummary[] {
    const { where, parameters } = whereClause(filter);
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 500);
    const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
    const rows = this.database.prepare(`SELECT ${SUMMARY_COLUMNS} FROM emails ${where}
      ORDER BY COALESCE(received_at, first_seen_at) DESC, email_id LIMIT ? OFFSET ?`)
      .all(...parameters, limit, offset) as Row[];
    return rows.map(toSummary);
  }

  /** How many emails match `filter` (its limit and offset ignored), for paging. */
  countEmails(filter: EmailFilter = {}): number {
    const { where, parameters } = whereClause(filter);
    const row = this.database.prepare(`SELECT COUNT(*) AS total FROM emails ${where}`).get(...parameters);
    return (row as { total: number }).total;
  }

  /** Every event recorded about an email, in the order they happened (not the order they arrived). */
  timeline(emailId: string): PipelineEvent[] {
    const rows = this.database.prepare(`SELECT event_id, timestamp, stage, email_id, document_id, agent_email, role,
      duration_ms, provider, model, detail, timestamp_ms, sequence FROM events WHERE email_id = ?`)
      .all(emailId) as Row[];
    const rankOf = (row: Row): number => STAGE_RANK[stateOfStage(String(row.stage))] ?? 0;
    // Events stamped in the same millisecond are put in flow order rather than arrival order.
    rows.sort((left, right) => Number(left.timestamp_ms) - Number(right.timestamp_ms) || rankOf(left) - rankOf(right)
      || Number(left.sequence) - Number(right.sequence));
    return rows.map(({ timestamp_ms: _sortKey, sequence: _arrival, detail, ...event }) => ({
      ...(event as unknown as Omit<PipelineEvent, 'detail'>),
      detail: JSON.parse(String(detail)) as Record<string, unknown>,
    }));
  }

  /** The mailboxes (`agent_email`) any recorded email arrived in, sorted. */
  mailboxes(): string[] {
    return (this.database.prepare('SELECT DISTINCT agent_email FROM emails WHERE agent_email IS NOT NULL ORDER BY agent_email')
      .all() as Array<{ agent_email: string }>).map((row) => row.agent_email);
  }

  /** Number of emails in each state, for one mailbox or all of them. */
  countByState(agentEmail?: string): Record<string, number> {
    const rows = this.database.prepare(`SELECT state, COUNT(*) AS total FROM emails
      ${agentEmail === undefined ? '' : 'WHERE agent_email = ?'} GROUP BY state`)
      .all(...(agentEmail === undefined ? [] : [agentEmail])) as { state: string; total: number }[];
    return Object.fromEntries(rows.map((row) => [row.state, row.total]));
  }
}

function whereClause(filter: EmailFilter): { where: string; parameters: string[] } {
  const conditions: string[] = [];
  const parameters: string[] = [];
  if (filter.agentEmail !== undefined) { conditions.push('agent_email = ?'); parameters.push(filter.agentEmail); }
  if (filter.state !== undefined) { conditions.push('state = ?'); parameters.push(filter.state); }
  if (filter.category !== undefined) { conditions.push('category = ?'); parameters.push(filter.category); }
  const search = filter.search?.trim();
  if (search) {
    // Escape LIKE's wildcards so a search for "50%" means the text, not a pattern.
    const pattern = `%${search.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
    conditions.push(`(${['subject', 'from_address', 'email_id', 'reply_excerpt']
      .map((column) => `${column} LIKE ? ESCAPE '\\'`).join(' OR ')})`);
    parameters.push(pattern, pattern, pattern, pattern);
  }
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, parameters };
}
