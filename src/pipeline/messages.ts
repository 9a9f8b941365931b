/**
 * Message bodies of docs/ARCHITECTURE.md#messages, validated at every consumer. `email_id` is the idempotency key
 * of the whole flow; `original_message_id` chains each message to the one it came from.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

const envelope = {
  /** Unique id of this message (also set as the AMQP `message_id` property). */
  message_id: z.string().min(1),
  /** ISO-8601 time the message was published. */
  timestamp: z.string().datetime({ offset: true }),
  /** `message_id` of the message this one was derived from; null for the first of a chain. */
  original_message_id: z.string().nullable().default(null),
};

/** Longest mailbox address accepted as a reply's recipient (RFC 5321 path limit less the brackets). */
export const MAX_ADDRESS_LENGTH = 254;

/** One mailbox address (an addr-spec) and nothing else: no list, display name, brackets or quotes. */
export const singleAddressSchema = z.string().max(MAX_ADDRESS_LENGTH).email();

/**
 * The recipient problem of an email published before the poller resolved recipients: its
 * `Reply-To`/`From` were never checked for a single address, so no reply may go out automatically.
 */
export const UNCHECKED_RECIPIENT = 'the email was read before replies were checked for a single recipient';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What {@link mailboxKeyOf} reads of an email. */
export type MailboxKeyFields = { agent_email: string; mailbox_ref: string; message_id_header: string | null };

/**
 * The email's own name, the same in every mailbox it reached: its Message-ID without the angle
 * brackets, or, without one, sha256 of the mailbox address and the mailbox's own id (64 hex). It
 * was the `email_id` before issue 13, and it is still what the reply's deterministic Message-ID
 * is derived from (src/providers/mailbox/mime.ts, replyMessageId), so replies sent before the
 * email id changed are still found in the Sent folder.
 */
export function mailboxKeyOf(email: MailboxKeyFields): string {
  const header = email.message_id_header;
  if (header === null) return sha256Hex(email.agent_email + email.mailbox_ref);
  return header.startsWith('<') && header.endsWith('>') ? header.slice(1, -1) : header;
}

/** The digest's nibbles 0-f written as the letters a-p. */
const NIBBLE_LETTERS = 'abcdefghijklmnop';

/**
 * The email id: the first 128 bits of sha256(`<agent_email> <mailbox key>`), each hex digit written
 * as a letter a-p (32 letters). Per mailbox, so one email sent to two support addresses is two
 * emails, each answered once. URL-safe and of one length whatever the Message-ID holds; letters
 * only, so no run of digits in it passes for a card number and the log redaction never cuts it
 * (src/lib/redact.ts). Migration 8 (src/store/migrations.ts) computes the same in SQL.
 */
export function emailIdOf(agentEmail: string, mailboxKey: string): string {
  return sha256Hex(`${agentEmail} ${mailboxKey}`)
    .slice(0, 32)
    .replace(/[0-9a-f]/g, (digit) => NIBBLE_LETTERS[Number.parseInt(digit, 16)]!);
}

/** The email as the poller read it from the mailbox. */
export const emailSchema = z
  .object({
    /**
     * Idempotency key: {@link emailIdOf} the mailbox and the Message-ID (or the mailbox's own id
     * when there is none). A message an older release published holds the bare key instead: it is
     * given its id here, so it is claimed, recorded and reviewed under the id the stores now hold.
     */
    email_id: z.string().min(1).max(998),
    /** Conversation id: the mailbox's thread id, or the root of `References`. */
    thread_id: z.string().nullable().default(null),
    /** The mailbox this email arrived in: namespace of everything it owns (tenant). */
    agent_email: z.string().email(),
    /** Where the email sits in its mailbox (Maildir file name, Gmail message id). */
    mailbox_ref: z.string().min(1),
    from: z.string().min(1),
    /** The display name of From (`Ana Pérez` of `"Ana Pérez" <ana@example.org>`), for a greeting; null when none. */
    from_name: z.string().max(200).nullish(),
    to: z.array(z.string()).default([]),
    subject: z.string().default(''),
    body: z.string(),
    /** RFC 5322 Message-ID header of the email (with angle brackets), for threading the reply. */
    message_id_header: z.string().nullable().default(null),
    references: z.array(z.string()).default([]),
    received_at: z.string(),
    /** Priority 1-10 (10 most urgent), also set as the AMQP priority. */
    priority: z.number().int().min(1).max(10).default(5),
    /**
     * The one address the reply goes to (the Reply-To, else the From), resolved by the poller; null
     * when there is no single valid one, and then `recipient_problem` says why.
     */
    reply_recipient: singleAddressSchema.nullable().optional(),
    /** Why no reply can go out automatically (e.g. `Reply-To names 200 addresses`); null when one can. */
    recipient_problem: z.string().nullable().optional(),
  })
  .transform(({ reply_recipient: recipient, recipient_problem: problem, ...email }) => {
    // An older message has neither field: its recipient was never checked, so it is not trusted.
    const reason = problem ?? (recipient ? null : UNCHECKED_RECIPIENT);
    const key = mailboxKeyOf(email);
    const emailId = email.email_id === key ? emailIdOf(email.agent_email, key) : email.email_id;
    return { ...email, email_id: emailId, reply_recipient: reason === null ? (recipient as string) : null, recipient_problem: reason };
  });
export type Email = z.infer<typeof emailSchema>;

export const classificationSchema = z.object({
  is_support_inquiry: z.boolean(),
  category: z.string().min(1),
  confidence: z.number().min(0).max(1),
  reasoning: z.string(),
  /** ISO 639-1 code of the email's language (`und` when it could not be told); absent in older messages. */
  language: z.string().optional(),
  /**
   * Set when the classifier cannot vouch for its answer (unsure, or a language the model cannot
   * judge): the email goes on to the responder, but its reply can only ever be a draft for review.
   */
  review_reason: z.string().optional(),
  provider: z.string(),
  model: z.string(),
});
export type Classification = z.infer<typeof classificationSchema>;

/** One retrieved passage the reply was grounded on. */
export const contextItemSchema = z.object({
  document_id: z.string(),
  /** Name of the source document (the uploaded file name). */
  source: z.string(),
  page: z.number().int().min(1),
  chunk_index: z.number().int().min(0),
  similarity_score: z.number(),
  text: z.string(),
  /** The document's title (PDF metadata or first heading); absent in older messages. */
  title: z.string().optional(),
  /** The section heading the passage belongs to, when known. */
  section: z.string().optional(),
  /** A public link to the page, when the mailbox configures where its manuals are published. */
  url: z.string().optional(),
});
export type ContextItem = z.infer<typeof contextItemSchema>;

export const generatedResponseSchema = z.object({
  subject: z.string(),
  body: z.string(),
  /** True when retrieval found nothing relevant: the reply is a hand-off to a human. */
  handoff: z.boolean(),
  provider: z.string(),
  model: z.string(),
  /** Best retrieval score, compared with the send policy's threshold. */
  top_score: z.number(),
  /**
   * The responder's decision (src/rag/decide.ts) and its reasons; the sender follows it in auto
   * mode. Absent in older messages: the sender then judges the classification and top score alone.
   */
  decision: z
    .object({
      action: z.enum(['send', 'draft', 'handoff']),
      reasons: z.array(z.string()),
    })
    .optional(),
});
export type GeneratedResponse = z.infer<typeof generatedResponseSchema>;

/** `emails.to_classify` */
export const toClassifySchema = z.object({ ...envelope, email: emailSchema });
export type ToClassifyMessage = z.infer<typeof toClassifySchema>;

/** `emails.to_respond` */
export const toRespondSchema = toClassifySchema.extend({ classification: classificationSchema });
export type ToRespondMessage = z.infer<typeof toRespondSchema>;

/** A person's approval of a drafted reply (dashboard review queue): the sender sends it whatever the mailbox's mode. */
export const reviewApprovalSchema = z.object({
  /** Who approved (the name of the API token used). */
  approved_by: z.string().min(1),
  /** ISO-8601 time of the approval. */
  approved_at: z.string(),
  /** True when the reviewer changed the generated body (the message carries the edited one). */
  edited: z.boolean(),
});
export type ReviewApproval = z.infer<typeof reviewApprovalSchema>;

/** `emails.to_send` */
export const toSendSchema = toRespondSchema.extend({
  generated_response: generatedResponseSchema,
  context_used: z.array(contextItemSchema),
  /** Present only on a reply a reviewer approved. */
  review: reviewApprovalSchema.optional(),
});
export type ToSendMessage = z.infer<typeof toSendSchema>;

/** `documents.to_ingest` */
export const toIngestSchema = z.object({
  ...envelope,
  document_id: z.string().min(1),
  agent_email: z.string().email(),
  /** The name the document was uploaded with; shown in citations. */
  filename: z.string().min(1),
  /** Path of the stored upload, readable by the ingester (a shared volume across hosts). */
  path: z.string().min(1),
});
export type ToIngestMessage = z.infer<typeof toIngestSchema>;

/** The record the runtime publishes to `dead_letter_exchange` (docs/ARCHITECTURE.md#dead-letters). */
export const deadLetterSchema = z.object({
  message_id: z.string(),
  timestamp: z.string(),
  original_queue: z.string(),
  /** The original body: parsed JSON when it was JSON, else the raw text; its free texts redacted as logs are, ids and addresses kept (dead-letter-record.ts). */
  original_message: z.unknown(),
  failure_info: z.object({
    /** Redacted as logs are. */
    error_message: z.string(),
    error_type: z.string(),
    retry_count: z.number().int().min(0),
    /** Function names and project-relative locations; no absolute file path. */
    stack_trace: z.string().nullable(),
    consumer_id: z.string(),
  }),
});
export type DeadLetterRecord = z.infer<typeof deadLetterSchema>;
