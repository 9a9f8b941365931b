/**
 * The texts of a conversation, kept whole for the dashboard: the customer's email (from the
 * poller's `received`, whose detail carries the published message) and the reply as sent or drafted
 * (from the sender's `sent` / `drafted` / `handed_off` / `shadowed`, or an approved edit). The
 * summary row keeps only a short excerpt, for finding an email; this table is read for one email at
 * a time. Events arrive twice and out of order, so each reply source has a rank and only an equal or
 * higher one (and, on a tie, a newer one) replaces the stored reply: what went out beats a draft.
 */
import { isStage, type PipelineEvent } from '../pipeline/events.js';
import type { SqlClient } from './sql.js';

/** Where the stored reply came from, weakest first. */
export const REPLY_SOURCES = ['drafted', 'handed_off', 'shadowed', 'approved', 'sent'] as const;
/** One of {@link REPLY_SOURCES}. */
export type ReplySource = (typeof REPLY_SOURCES)[number];

/** A passage the reply was built from, as the sender's message carried it. */
export interface StoredPassage {
  document_id: string;
  source: string;
  page: number;
  title?: string;
  score?: number;
}

/** The whole texts of one email; a field stays null until an event that carries it is recorded. */
export interface EmailContents {
  customer_body: string | null;
  reply_subject: string | null;
  reply_body: string | null;
  reply_source: ReplySource | null;
  passages: StoredPassage[];
}

/** Longest text kept; the poller already cuts bodies far below this (src/providers/mailbox/mime.ts). */
const MAX_TEXT = 100_000;

/**
 * Text safe to show as text: line ends normalised, control characters dropped (tab and newline
 * kept), and the invisible characters that reorder or hide text removed (bidi overrides, zero
 * widths), so an address or amount reads as it is.
 */
export function plainText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, '')
    .replace(/[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g, '')
    .slice(0, MAX_TEXT);
}

type Loose = Record<string, unknown>;
const objectOf = (value: unknown): Loose | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : undefined);
const textOf = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The email of an embedded message, when it is about the event's own email (a message about another one is a forgery). */
function emailOf(message: unknown, emailId: string): Loose | undefined {
  const email = objectOf(objectOf(message)?.email);
  return email && email.email_id === emailId ? email : undefined;
}

function passagesOf(message: Loose): StoredPassage[] | undefined {
  if (!Array.isArray(message.context_used)) return undefined;
  return message.context_used.flatMap((item: unknown) => {
    const passage = objectOf(item);
    if (!passage || typeof passage.document_id !== 'string' || typeof passage.source !== 'string' || typeof passage.page !== 'number') return [];
    return [
      {
        document_id: passage.document_id,
        source: passage.source,
        page: passage.page,
        ...(typeof passage.title === 'string' ? { title: passage.title } : {}),
        ...(typeof passage.similarity_score === 'number' ? { score: passage.similarity_score } : {}),
      },
    ];
  });
}

interface Found {
  customerBody?: string;
  reply?: { subject?: string; body: string; source: ReplySource };
  passages?: StoredPassage[];
}

/** What `event` says of its email's texts. */
function contentsOfEvent(event: PipelineEvent, emailId: string): Found {
  if (isStage(event, 'received')) {
    const body = textOf(emailOf(event.detail.message, emailId)?.body);
    return body === undefined ? {} : { customerBody: body };
  }
  if (isStage(event, 'drafted', 'handed_off')) {
    const message = objectOf(event.detail.message);
    const email = emailOf(message, emailId);
    if (!message || !email) return {};
    const response = objectOf(message.generated_response);
    const body = textOf(response?.body);
    return {
      customerBody: textOf(email.body),
      passages: passagesOf(message),
      ...(body === undefined ? {} : { reply: { subject: textOf(response?.subject), body, source: event.stage } }),
    };
  }
  if (isStage(event, 'review_approved')) {
    const body = textOf(event.detail.body);
    return body === undefined ? {} : { reply: { body, source: 'approved' } };
  }
  if (isStage(event, 'sent', 'shadowed')) {
    const { body, subject } = event.detail;
    return body === undefined ? {} : { reply: { subject, body, source: event.stage } };
  }
  return {};
}

/** Folds what `event` carries into its email's stored texts. Part of the caller's transaction. */
export async function recordContents(tx: SqlClient, event: PipelineEvent, timestampMs: number): Promise<void> {
  const emailId = event.email_id;
  // A shadow replay's reply is an experiment: it never replaces what the customer got.
  if (emailId === null || 'replay' in (event.detail ?? {})) return;
  const found = contentsOfEvent(event, emailId);
  if (found.customerBody === undefined && found.reply === undefined && found.passages === undefined) return;
  await tx.run('INSERT INTO email_contents (email_id) VALUES (?) ON CONFLICT (email_id) DO NOTHING', [emailId]);
  if (found.customerBody !== undefined) {
    // A `received` rides on the classify hop, which other roles than the poller can write (the hop's
    // exchange has no per-stage permissions): it fills the customer's text, never replaces it. The
    // sender's drafted message, the email the pipeline actually answered, does.
    const onlyIfEmpty = isStage(event, 'received') ? ' AND customer_body IS NULL' : '';
    await tx.run(`UPDATE email_contents SET customer_body = ? WHERE email_id = ?${onlyIfEmpty}`, [plainText(found.customerBody), emailId]);
  }
  if (found.passages !== undefined) {
    await tx.run('UPDATE email_contents SET passages = ? WHERE email_id = ?', [JSON.stringify(found.passages), emailId]);
  }
  if (found.reply !== undefined) {
    const rank = REPLY_SOURCES.indexOf(found.reply.source) + 1;
    await tx.run(
      `UPDATE email_contents SET reply_subject = COALESCE(?, reply_subject), reply_body = ?, reply_source = ?, reply_rank = ?, reply_at_ms = ?
      WHERE email_id = ? AND (reply_rank < ? OR (reply_rank = ? AND reply_at_ms <= ?))`,
      [found.reply.subject ?? null, plainText(found.reply.body), found.reply.source, rank, timestampMs, emailId, rank, rank, timestampMs],
    );
  }
}

/** The stored texts of one email, or undefined when no event carried any. */
export async function readContents(database: SqlClient, emailId: string): Promise<EmailContents | undefined> {
  const row = await database.get<{
    customer_body: string | null;
    reply_subject: string | null;
    reply_body: string | null;
    reply_source: ReplySource | null;
    passages: string | null;
  }>('SELECT customer_body, reply_subject, reply_body, reply_source, passages FROM email_contents WHERE email_id = ?', [emailId]);
  if (row === undefined) return undefined;
  return { ...row, passages: row.passages === null ? [] : (JSON.parse(row.passages) as StoredPassage[]) };
}
