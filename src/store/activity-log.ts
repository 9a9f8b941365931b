/**
 * The activity log: every pipeline event, and one summary row per email that says where it stands.
 * Events come from the `events.audit` stream, so they may arrive twice and out of order: recording
 * is idempotent by `event_id`, and the summary's state only moves forward along {@link STAGE_RANK}
 * (src/store/email-summary.ts, which says which event fills in which column).
 */
import { readEvent } from '../pipeline/event-reading.js';
import type { OtherStageEvent, PipelineEvent } from '../pipeline/events.js';
import { forUpdate, type SqlClient, type SqlEngine } from './sql.js';
import { readContents, recordContents, type EmailContents } from './email-contents.js';
import { STAGE_RANK, isFinal, outcomeOf, stageColumns, stateOfStage, type Citation, type EmailSummary, type Row, type StageRecord } from './email-summary.js';

export { FINAL_STATES, isFinal, type EmailSummary } from './email-summary.js';
export type { EmailContents, StoredPassage } from './email-contents.js';

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
  constructor(private readonly database: SqlClient) {}

  /**
   * Records one event and folds it into its email's summary.
   * @returns false when an event with the same `event_id` was already recorded (nothing changes).
   */
  record(event: PipelineEvent): Promise<boolean> {
    const now = new Date().toISOString();
    const parsed = Date.parse(event.timestamp);
    // An unparseable timestamp still has to sort somewhere: arrival time is the best guess.
    const timestampMs = Number.isNaN(parsed) ? Date.now() : parsed;
    return this.database.transaction(async (tx) => {
      const inserted = await tx.run(
        `INSERT INTO events
        (event_id, timestamp, timestamp_ms, stage, email_id, document_id, agent_email, role,
         duration_ms, provider, model, detail, recorded_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
        [
          event.event_id,
          event.timestamp,
          timestampMs,
          event.stage,
          event.email_id,
          event.document_id,
          event.agent_email,
          event.role,
          event.duration_ms,
          event.provider,
          event.model,
          JSON.stringify(storedDetail(event.detail ?? {})),
          now,
        ],
      );
      if (inserted.changes === 0) return false;
      // The texts travel in the detail the events table does not keep (storedDetail): taken here, whole.
      await recordContents(tx, event, timestampMs);
      // A shadow replay is recorded in the timeline but does not rewrite how the email ended.
      if (event.email_id !== null && STAGE_RANK[stateOfStage(event.stage)] !== undefined && !('replay' in (event.detail ?? {}))) {
        await this.foldIntoSummary(tx, event, event.email_id, timestampMs, now);
      }
      return true;
    });
  }

  private async foldIntoSummary(tx: SqlClient, event: PipelineEvent, emailId: string, timestampMs: number, now: string): Promise<void> {
    const state = stateOfStage(event.stage);
    const rank = STAGE_RANK[state];
    // The row exists before it is read, so that where rows are locked (PostgreSQL) two recorders
    // folding events of one new email take turns instead of each writing its own first version.
    await tx.run(
      `INSERT INTO emails (email_id, state, state_rank, state_at_ms, stages, first_seen_at, updated_at)
      VALUES (?, ?, 0, 0, '{}', ?, ?) ON CONFLICT (email_id) DO NOTHING`,
      [emailId, state, now, now],
    );
    const row = (await tx.get<Row>(`SELECT * FROM emails WHERE email_id = ?${forUpdate(tx)}`, [emailId])) as Row;
    const stages = JSON.parse(String(row.stages)) as Record<string, StageRecord & { at_ms: number }>;
    const previous = stages[event.stage];
    // A stage seen twice (a redelivery) keeps the newer run's data, whatever order they arrive in.
    if (previous === undefined || timestampMs >= previous.at_ms) {
      Object.assign(row, stageColumns(event));
      stages[event.stage] = { timestamp: event.timestamp, at_ms: timestampMs, provider: event.provider, model: event.model, duration_ms: event.duration_ms };
    }
    const stateRank = Number(row.state_rank);
    if (rank > stateRank || (rank === stateRank && timestampMs >= Number(row.state_at_ms))) {
      Object.assign(row, { state, state_rank: rank, state_at_ms: timestampMs });
      if (isFinal(state)) row.outcome = outcomeOf(event);
    }
    row.agent_email = row.agent_email ?? event.agent_email;
    row.stages = JSON.stringify(stages);
    row.updated_at = now;
    const columns = Object.keys(row).filter((column) => column !== 'email_id');
    await tx.run(`UPDATE emails SET ${columns.map((column) => `${column} = ?`).join(', ')} WHERE email_id = ?`, [
      ...columns.map((column) => row[column]),
      emailId,
    ]);
  }

  /** The summary of one email, or undefined when no event about it was recorded. */
  async getEmail(emailId: string): Promise<EmailSummary | undefined> {
    const row = await this.database.get<Row>(`SELECT ${SUMMARY_COLUMNS} FROM emails WHERE email_id = ?`, [emailId]);
    return row === undefined ? undefined : toSummary(row);
  }

  /** Emails matching `filter`, newest received first. */
  async listEmails(filter: EmailFilter = {}): Promise<EmailSummary[]> {
    const { where, parameters } = whereClause(filter, this.database.engine);
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 500);
    const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
    const rows = await this.database.all<Row>(
      `SELECT ${SUMMARY_COLUMNS} FROM emails ${where}
      ORDER BY COALESCE(received_at, first_seen_at) DESC, email_id LIMIT ? OFFSET ?`,
      [...parameters, limit, offset],
    );
    return rows.map(toSummary);
  }

  /** How many emails match `filter` (its limit and offset ignored), for paging. */
  async countEmails(filter: EmailFilter = {}): Promise<number> {
    const { where, parameters } = whereClause(filter, this.database.engine);
    const row = await this.database.get<{ total: number }>(`SELECT COUNT(*) AS total FROM emails ${where}`, parameters);
    return (row as { total: number }).total;
  }

  /** The customer's text and the reply in full, as far as recorded events carried them. */
  contents(emailId: string): Promise<EmailContents | undefined> {
    return readContents(this.database, emailId);
  }

  /** Every event recorded about an email, in the order they happened (not the order they arrived). */
  async timeline(emailId: string): Promise<PipelineEvent[]> {
    const rows = await this.database.all<Row>(
      `SELECT event_id, timestamp, stage, email_id, document_id, agent_email, role,
      duration_ms, provider, model, detail, timestamp_ms, sequence FROM events WHERE email_id = ?`,
      [emailId],
    );
    const rankOf = (row: Row): number => STAGE_RANK[stateOfStage(String(row.stage))] ?? 0;
    // Events stamped in the same millisecond are put in flow order rather than arrival order.
    rows.sort(
      (left, right) => Number(left.timestamp_ms) - Number(right.timestamp_ms) || rankOf(left) - rankOf(right) || Number(left.sequence) - Number(right.sequence),
    );
    // Read as events off the stream are: rows recorded by older versions get the same typed view.
    return rows.map(({ timestamp_ms: _sortKey, sequence: _arrival, detail, ...event }) =>
      readEvent({
        ...(event as unknown as Omit<OtherStageEvent, 'detail'>),
        detail: JSON.parse(String(detail)) as Record<string, unknown>,
      }),
    );
  }

  /** The mailboxes (`agent_email`) any recorded email arrived in, sorted. */
  async mailboxes(): Promise<string[]> {
    const rows = await this.database.all<{ agent_email: string }>('SELECT DISTINCT agent_email FROM emails WHERE agent_email IS NOT NULL ORDER BY agent_email');
    return rows.map((row) => row.agent_email);
  }

  /** The categories any recorded email was classified in, sorted. */
  async categories(): Promise<string[]> {
    const rows = await this.database.all<{ category: string }>('SELECT DISTINCT category FROM emails WHERE category IS NOT NULL ORDER BY category');
    return rows.map((row) => row.category);
  }

  /** Number of emails in each state, for one mailbox or all of them. */
  async countByState(agentEmail?: string): Promise<Record<string, number>> {
    const rows = await this.database.all<{ state: string; total: number }>(
      `SELECT state, COUNT(*) AS total FROM emails
      ${agentEmail === undefined ? '' : 'WHERE agent_email = ?'} GROUP BY state`,
      agentEmail === undefined ? [] : [agentEmail],
    );
    return Object.fromEntries(rows.map((row) => [row.state, row.total]));
  }
}

function whereClause(filter: EmailFilter, engine: SqlEngine): { where: string; parameters: string[] } {
  const conditions: string[] = [];
  const parameters: string[] = [];
  if (filter.agentEmail !== undefined) {
    conditions.push('agent_email = ?');
    parameters.push(filter.agentEmail);
  }
  if (filter.state !== undefined) {
    conditions.push('state = ?');
    parameters.push(filter.state);
  }
  if (filter.category !== undefined) {
    conditions.push('category = ?');
    parameters.push(filter.category);
  }
  const search = filter.search?.trim();
  if (search) {
    // Escape LIKE's wildcards so a search for "50%" means the text, not a pattern. SQLite's LIKE
    // ignores (ASCII) case; PostgreSQL's needs ILIKE for that.
    const like = engine === 'postgres' ? 'ILIKE' : 'LIKE';
    const pattern = `%${search.replace(/[\\%_]/g, (character) => `\\${character}`)}%`;
    conditions.push(`(${['subject', 'from_address', 'email_id', 'reply_excerpt'].map((column) => `${column} ${like} ? ESCAPE '\\'`).join(' OR ')})`);
    parameters.push(pattern, pattern, pattern, pattern);
  }
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, parameters };
}
