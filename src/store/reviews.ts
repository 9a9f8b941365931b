/**
 * The review queue: replies the sender left as drafts (draft / review mode, low confidence,
 * hand-offs) wait here for a person. The recorder opens a review from the sender's `drafted` /
 * `handed_off` event, which carries the whole `emails.to_send` message; the dashboard decides it
 * (approve, with an optional edit, or reject); the recorder marks it sent when the `sent` event of
 * the approved reply arrives. A decision is taken once: deciding a review twice is a conflict.
 */
import { UNCHECKED_RECIPIENT, type ToSendMessage } from '../pipeline/messages.js';
import { forUpdate, type SqlClient } from './sql.js';

/** pending → approved → sent, or pending → rejected. */
export const REVIEW_STATUSES = ['pending', 'approved', 'rejected', 'sent'] as const;
/** One of {@link REVIEW_STATUSES}. */
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

/** One drafted reply and what a person decided about it. */
export interface Review {
  email_id: string;
  agent_email: string;
  status: ReviewStatus;
  /** Why the sender left a draft instead of sending (e.g. `review mode`, a threshold, a hand-off). */
  reason: string | null;
  /** The `emails.to_send` message as the sender received it: email, classification, reply, passages. */
  message: ToSendMessage;
  /** The body that is (or will be) sent: the generated one, or the reviewer's edit. */
  reply_body: string;
  /** The one address the reply goes to; null when the email has none (it cannot be approved). */
  recipient: string | null;
  /** Why there is no recipient (e.g. `Reply-To names 200 addresses`); null when there is one. */
  recipient_problem: string | null;
  /** True when the reviewer changed the generated body. */
  edited: boolean;
  /** Who approved or rejected, and when (ISO-8601); null while pending. */
  decided_by: string | null;
  decided_at: string | null;
  /** The reviewer's note (a rejection's reason). */
  note: string | null;
  /** When the approved reply went out. */
  sent_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A review once decided: who and when are known. */
export type DecidedReview = Review & { decided_by: string; decided_at: string };

/** A decision on a pending review. */
export interface ReviewDecision {
  action: 'approved' | 'rejected';
  /** Who decides (the API token's name). */
  by: string;
  /** ISO-8601; default now. */
  at?: string;
  /** Approval only: the edited body; omitted or equal to the generated body means unedited. */
  body?: string;
  note?: string;
}

/** Filters of {@link ReviewQueue.list}. */
export interface ReviewFilter {
  agentEmail?: string;
  status?: ReviewStatus;
  /** Default 50, at most 500. */
  limit?: number;
  offset?: number;
}

/** The review does not exist. */
export class ReviewNotFoundError extends Error {
  readonly code = 'review_not_found';
}

/** The review was already decided (by someone else, or by an earlier click). */
export class ReviewConflictError extends Error {
  readonly code = 'review_conflict';
  constructor(readonly review: Review) {
    super(`the reply to ${review.email_id} was already ${review.status}${review.decided_by ? ` by ${review.decided_by}` : ''}`);
  }
}

type Row = Record<string, string | number | null>;

function toReview(row: Row): Review {
  const message = JSON.parse(String(row.message)) as ToSendMessage;
  // A draft stored before recipients were resolved has neither field: its recipient is unchecked.
  const recipient = message.email.reply_recipient ?? null;
  const problem = message.email.recipient_problem ?? (recipient === null ? UNCHECKED_RECIPIENT : null);
  return {
    ...(row as unknown as Review),
    message,
    edited: row.edited === 1,
    recipient: problem === null ? recipient : null,
    recipient_problem: problem,
  };
}

/** One review read through `client`; `lock` is `forUpdate`'s fragment inside a transaction that writes it next. */
async function readReview(client: SqlClient, emailId: string, lock = ''): Promise<Review | undefined> {
  const row = await client.get<Row>(`SELECT * FROM reviews WHERE email_id = ?${lock}`, [emailId]);
  return row === undefined ? undefined : toReview(row);
}

/** The review queue over one open database (see `openDatabase`). */
export class ReviewQueue {
  constructor(private readonly database: SqlClient) {}

  /**
   * Opens a review for a drafted reply. A redelivered draft refreshes a pending review and leaves
   * a decided one as it is. @returns true when a review was created or refreshed.
   */
  async open(message: ToSendMessage, reason: string | null, at = new Date().toISOString()): Promise<boolean> {
    const result = await this.database.run(
      `INSERT INTO reviews
        (email_id, agent_email, status, reason, message, reply_body, edited, created_at, updated_at)
      VALUES (?, ?, 'pending', ?, ?, ?, 0, ?, ?)
      ON CONFLICT (email_id) DO UPDATE SET reason = excluded.reason, message = excluded.message,
        reply_body = excluded.reply_body, updated_at = excluded.updated_at
      WHERE reviews.status = 'pending'`,
      [message.email.email_id, message.email.agent_email, reason, JSON.stringify(message), message.generated_response.body, at, at],
    );
    return result.changes > 0;
  }

  get(emailId: string): Promise<Review | undefined> {
    return readReview(this.database, emailId);
  }

  /** Reviews matching `filter`, oldest first (the order a reviewer works through them). */
  async list(filter: ReviewFilter = {}): Promise<Review[]> {
    const { where, parameters } = whereClause(filter);
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 50), 1), 500);
    const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
    const rows = await this.database.all<Row>(`SELECT * FROM reviews ${where} ORDER BY created_at, email_id LIMIT ? OFFSET ?`, [...parameters, limit, offset]);
    return rows.map(toReview);
  }

  async count(filter: ReviewFilter = {}): Promise<number> {
    const { where, parameters } = whereClause(filter);
    return ((await this.database.get<{ total: number }>(`SELECT COUNT(*) AS total FROM reviews ${where}`, parameters)) as { total: number }).total;
  }

  /**
   * Decides a pending review, atomically: of two reviewers clicking at once, one wins and the
   * other gets {@link ReviewConflictError}.
   */
  decide(emailId: string, decision: ReviewDecision): Promise<DecidedReview> {
    return this.database.transaction(async (tx) => {
      const review = await readReview(tx, emailId, forUpdate(tx));
      if (review === undefined) throw new ReviewNotFoundError(`no drafted reply to ${emailId} is waiting for review`);
      if (review.status !== 'pending') throw new ReviewConflictError(review);
      const at = decision.at ?? new Date().toISOString();
      const generated = review.message.generated_response.body;
      const body = decision.action === 'approved' && decision.body !== undefined ? decision.body : generated;
      await tx.run(
        `UPDATE reviews SET status = ?, reply_body = ?, edited = ?, decided_by = ?, decided_at = ?,
          note = ?, updated_at = ? WHERE email_id = ?`,
        [decision.action, body, Number(body !== generated), decision.by, at, decision.note ?? null, at, emailId],
      );
      return (await readReview(tx, emailId)) as DecidedReview;
    });
  }

  /**
   * Takes back a decision whose effect could not be carried out (the approved reply could not be
   * published): the review is pending again, unedited, as if nobody had decided. Only the exact
   * decision `decided` is undone, so a later one is never lost.
   * @returns false when the review no longer holds that decision.
   */
  async revertToPending(decided: Review): Promise<boolean> {
    const at = new Date().toISOString();
    const result = await this.database.run(
      `UPDATE reviews SET status = 'pending', reply_body = ?, edited = 0, decided_by = NULL,
        decided_at = NULL, note = NULL, updated_at = ?
      WHERE email_id = ? AND status = ? AND decided_by IS NOT DISTINCT FROM ? AND decided_at IS NOT DISTINCT FROM ?`,
      [decided.message.generated_response.body, at, decided.email_id, decided.status, decided.decided_by, decided.decided_at],
    );
    return result.changes > 0;
  }

  /**
   * Puts back in the queue an approval whose reply did not go out as approved but was left as a
   * draft (its delivery uncertain: its sender stopped inside the SMTP transaction): the review is
   * pending again with `reason`, the approved body kept, for a person to check and decide again.
   * Only the exact approval `approval` is reopened, so a later decision is never undone.
   * @returns false when the review no longer holds that approval.
   */
  async reopen(
    emailId: string,
    approval: { approved_by: string; approved_at: string },
    reason: string | null,
    at = new Date().toISOString(),
  ): Promise<boolean> {
    const result = await this.database.run(
      `UPDATE reviews SET status = 'pending', reason = ?, decided_by = NULL, decided_at = NULL, note = NULL, updated_at = ?
      WHERE email_id = ? AND status = 'approved' AND decided_by = ? AND decided_at = ?`,
      [reason, at, emailId, approval.approved_by, approval.approved_at],
    );
    return result.changes > 0;
  }

  /**
   * The approved reply went out. Only an approved review moves: a pending one was decided by
   * nobody, and marking it sent would hide it from the reviewers.
   * @returns false when no approved review of this email exists.
   */
  async markSent(emailId: string, at = new Date().toISOString()): Promise<boolean> {
    const result = await this.database.run(`UPDATE reviews SET status = 'sent', sent_at = ?, updated_at = ? WHERE email_id = ? AND status = 'approved'`, [
      at,
      at,
      emailId,
    ]);
    return result.changes > 0;
  }
}

function whereClause(filter: ReviewFilter): { where: string; parameters: string[] } {
  const conditions: string[] = [];
  const parameters: string[] = [];
  if (filter.agentEmail !== undefined) {
    conditions.push('agent_email = ?');
    parameters.push(filter.agentEmail);
  }
  if (filter.status !== undefined) {
    conditions.push('status = ?');
    parameters.push(filter.status);
  }
  return { where: conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`, parameters };
}
