/**
 * MIME in and out: raw RFC 5322 messages become `IncomingEmail`s (postal-mime), replies become
 * raw messages in the thread of the email they answer (nodemailer's mail composer). Shared by
 * every mailbox provider, so Maildir and Gmail thread and guard replies the same way.
 */
import { createHash } from 'node:crypto';
import type { Address, Email as ParsedEmail } from 'postal-mime';
import { RagmailError, permanentError } from '../../lib/errors.js';
import { emailIdOf, emailSchema, mailboxKeyOf } from '../../pipeline/messages.js';
import { htmlToText } from './html-text.js';
import { EmailParseRefusal, parseMimeInWorker } from './mime-parser.js';
import { addressesIn, isOwnAddress, isSingleAddress, mailboxesOf, resolveReplyRecipient } from './recipient.js';
import type { IncomingEmail, OutgoingReply } from './spec.js';
import { automatedReason, priorityOf } from './safety.js';

export { htmlToText } from './html-text.js';

/**
 * Longest body kept, in characters. A support question needs far less, and every pattern after
 * the poller (classifier, redaction, prompt) then runs on a bounded input, whatever was mailed.
 */
export const MAX_BODY_CHARS = 128 * 1024;
/** Longest header value read, in characters (a long References list is ~100 ids of ~60). */
const MAX_HEADER_CHARS = 8 * 1024;
/** Longest subject kept, in characters (RFC 5322 lines stop at 998; a folded subject may run on). */
const MAX_SUBJECT_CHARS = 2_000;
/** Longest Message-ID taken as the email's key (an RFC 5322 line is at most 998 characters). */
const MAX_MESSAGE_ID_CHARS = 998;
/** Longest single address string (From) and most To addresses kept. */
const MAX_ADDRESS_CHARS = 998;
const MAX_TO_ADDRESSES = 100;
/** A display name longer than this is no name (the schema caps it too). */
const MAX_NAME_CHARS = 200;

/** Bounds on reading one raw email (MAX_EMAIL_BYTES, EMAIL_PARSE_TIMEOUT_MS). */
export interface EmailParseLimits {
  /** Largest raw email parsed, in bytes; a larger one is refused unread. */
  maxBytes: number;
  /** Time budget of the MIME parse (in a worker thread); a slower email is refused. */
  timeoutMs: number;
}

/** The limits when a mailbox is given none: the defaults of MAX_EMAIL_BYTES and EMAIL_PARSE_TIMEOUT_MS. */
export const DEFAULT_EMAIL_PARSE_LIMITS: EmailParseLimits = { maxBytes: 25 * 1024 * 1024, timeoutMs: 10_000 };

/** Where an email was read from; part of its identity when it has no Message-ID. */
export interface ParseEmailOptions {
  /** The mailbox address the email arrived in (tenant namespace). */
  agentEmail: string;
  /** Where the email sits in its mailbox (Maildir file name, Gmail message id). */
  mailboxRef: string;
  /** Size and time bounds; default {@link DEFAULT_EMAIL_PARSE_LIMITS}. */
  limits?: EmailParseLimits;
}

/** Options of `buildReply`. */
export interface BuildReplyOptions {
  /** Marks the message as a draft for a human to review (`X-Ragmail-Status: draft`); default false. */
  draft?: boolean;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `value`, cut to `limit` characters before any pattern runs on it. */
function bounded(value: string | undefined, limit: number): string | undefined {
  return value !== undefined && value.length > limit ? value.slice(0, limit) : value;
}

/** The id without its angle brackets. A loop, not `/>+$/`, which is quadratic on many `>`. */
function stripAngleBrackets(messageId: string): string {
  const value = messageId.trim();
  let start = 0;
  let end = value.length;
  while (start < end && value[start] === '<') start += 1;
  while (end > start && value[end - 1] === '>') end -= 1;
  return value.slice(start, end).trim();
}

/** Message-IDs of a References / In-Reply-To value, angle brackets kept, in order. */
function messageIdList(value: string | undefined): string[] {
  if (!value) return [];
  const bracketed = value.match(/<[^<>\s]+>/g);
  if (bracketed) return bracketed;
  // Some senders drop the brackets; each whitespace-separated token is then one id.
  return value
    .split(/\s+/)
    .filter(Boolean)
    .map((id) => `<${id}>`);
}

/** Lower-case bare addresses as postal-mime read them (one may still be a list), groups unwrapped. */
function addressList(addresses: Address[] | Address | undefined): string[] {
  return mailboxesOf(addresses)
    .map((mailbox) => (bounded(mailbox.address, MAX_ADDRESS_CHARS) ?? '').trim().toLowerCase())
    .filter((address) => address.includes('@'));
}

/** The display name of the first sender, bounded; null when it has none. */
function displayName(addresses: Address[] | Address | undefined): string | null {
  const name = (bounded(mailboxesOf(addresses)[0]?.name, MAX_NAME_CHARS) ?? '').replace(/\s+/g, ' ').trim();
  return name || null;
}

/** The email's headers keyed by lower-case name, values bounded; the first of repeated headers wins. */
function headerRecord(parsed: ParsedEmail): Record<string, string> {
  const record: Record<string, string> = {};
  for (const header of parsed.headers) {
    if (!(header.key in record)) record[header.key] = bounded(header.value, MAX_HEADER_CHARS) ?? '';
  }
  return record;
}

/** The body text, cut at {@link MAX_BODY_CHARS} with a note a reader (and the model) can see. */
function boundedBody(text: string): string {
  if (text.length <= MAX_BODY_CHARS) return text;
  return `${text.slice(0, MAX_BODY_CHARS)}\n\n[the rest of this email was cut: longer than ${MAX_BODY_CHARS / 1024} KB]`;
}

/** ISO time of a Date header; postal-mime hands back the raw value when it does not parse. */
function receivedAt(date: string | undefined): string {
  const parsed = date ? new Date(date) : null;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : new Date().toISOString();
}

/**
 * Parses a raw message into the email the poller publishes. The MIME parse runs in a worker
 * thread within `limits.timeoutMs`, so no email can hold this thread's event loop.
 *
 * @throws RagmailError `email_unparseable` (permanent) when the message is larger than
 *   `limits.maxBytes`, cannot be parsed in time or at all, or has no usable sender: such mail can
 *   never be answered, however often it is retried. `email_parser_unavailable` (retryable) when
 *   the parser's worker thread cannot start.
 */
export async function parseEmail(raw: Buffer | string, options: ParseEmailOptions): Promise<IncomingEmail> {
  const limits = options.limits ?? DEFAULT_EMAIL_PARSE_LIMITS;
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  if (size > limits.maxBytes) {
    throw permanentError('email_unparseable', `email ${options.mailboxRef} of ${size} bytes exceeds the limit of ${limits.maxBytes} bytes`);
  }
  let parsed: ParsedEmail;
  try {
    parsed = await parseMimeInWorker(raw, limits.timeoutMs);
  } catch (error) {
    if (!(error instanceof EmailParseRefusal)) throw error;
    throw permanentError('email_unparseable', `cannot parse email ${options.mailboxRef}: ${error.message}`, error);
  }
  try {
    return readParsed(parsed, options);
  } catch (error) {
    // Whatever a crafted email breaks here, it breaks on every read: set aside, never retried.
    if (error instanceof RagmailError) throw error;
    throw permanentError('email_unparseable', `cannot read email ${options.mailboxRef}: ${String(error)}`, error);
  }
}

/** The email the poller publishes, from postal-mime's parse. */
function readParsed(parsed: ParsedEmail, options: ParseEmailOptions): IncomingEmail {
  const from = addressList(parsed.from)[0];
  if (!from) {
    throw permanentError('email_unparseable', `email ${options.mailboxRef} has no sender address in From`);
  }
  const headers = headerRecord(parsed);
  // A Message-ID no header line can hold is no usable id: the email is then known by its place.
  const messageId = parsed.messageId !== undefined && parsed.messageId.length <= MAX_MESSAGE_ID_CHARS ? parsed.messageId : undefined;
  const messageIdHeader = messageId ? `<${stripAngleBrackets(messageId)}>` : null;
  const key = mailboxKeyOf({ agent_email: options.agentEmail, mailbox_ref: options.mailboxRef, message_id_header: messageIdHeader });
  const references = messageIdList(bounded(parsed.references, MAX_HEADER_CHARS));
  const threadRoot = references[0] ?? messageIdList(bounded(parsed.inReplyTo, MAX_HEADER_CHARS))[0];
  const subject = bounded(parsed.subject, MAX_SUBJECT_CHARS) ?? '';
  const body = boundedBody(parsed.text?.trim() ? parsed.text : htmlToText(parsed.html ?? '', MAX_BODY_CHARS + 1));
  const { recipient, problem } = resolveReplyRecipient(parsed.from, parsed.replyTo, 'reply-to' in headers);

  const candidate = {
    email_id: emailIdOf(options.agentEmail, key),
    thread_id: threadRoot ? stripAngleBrackets(threadRoot) : key,
    agent_email: options.agentEmail,
    mailbox_ref: options.mailboxRef,
    from,
    from_name: displayName(parsed.from),
    to: addressList(parsed.to).slice(0, MAX_TO_ADDRESSES),
    subject,
    body,
    message_id_header: messageIdHeader,
    references,
    received_at: receivedAt(parsed.date),
    priority: priorityOf(subject, headers),
    reply_recipient: recipient,
    recipient_problem: problem,
  };
  // Validate here so a message the consumers would reject never leaves the mailbox.
  const validated = emailSchema.safeParse(candidate);
  if (!validated.success) {
    throw permanentError('email_unparseable', `email ${options.mailboxRef} is invalid: ${validated.error.message}`);
  }

  // Every address of From and Reply-To is checked: the reply may reach any of them.
  const senders = addressesIn(parsed.from);
  const replyTargets = addressesIn(parsed.replyTo);
  const own = (address: string) => isOwnAddress(address, options.agentEmail);
  // Mail from (or replying to) the mailbox itself would make the responder answer its own replies: a loop.
  const automated =
    automatedReason(headers, [...senders, ...replyTargets]) ??
    (senders.some(own) ? 'sent by the mailbox itself' : replyTargets.some(own) ? 'Reply-To names the mailbox itself' : null);
  return { email: validated.data, automated };
}

/**
 * The deterministic Message-ID of the reply to an email: the same email always gets the same
 * reply id, so a send that crashed before its ack is found instead of repeated (docs/ARCHITECTURE.md#idempotency).
 * Its shape is `<ragmail.<32 hex of sha256(agentEmail + mailboxKey)>@<domain of agentEmail>>`, with
 * the email's mailbox key (`mailboxKeyOf`, the bare Message-ID), not its email id: so it is what it
 * was before the email id became per mailbox, and replies sent before that are still recognised.
 */
export function replyMessageId(mailboxKey: string, agentEmail: string): string {
  const domain = agentEmail.slice(agentEmail.lastIndexOf('@') + 1).toLowerCase();
  return `<ragmail.${sha256Hex(agentEmail + mailboxKey).slice(0, 32)}@${domain}>`;
}

/** The subject of a reply: `Re: ` once, never `Re: Re: `. */
export function replySubject(subject: string): string {
  const trimmed = subject.trim();
  return /^re\s*:/i.test(trimmed) ? trimmed : `Re: ${trimmed}`.trim();
}

/**
 * Builds the raw RFC 5322 reply. It goes to the email's one `reply_recipient` (its Reply-To or
 * else its sender) and nowhere else (docs/ARCHITECTURE.md#safety), carries `Auto-Submitted: auto-replied` so
 * other responders do not answer it (RFC 3834 §5), and threads with `In-Reply-To` and `References`.
 * A draft of an email without a valid recipient has no `To`: a person answers it by hand.
 *
 * @throws RagmailError `reply_recipient_invalid` (permanent) for a reply, not a draft, without one
 *   valid recipient.
 */
export async function buildReply(reply: OutgoingReply, options: BuildReplyOptions = {}): Promise<Buffer> {
  // Loaded by the first reply (3 MiB): of a worker's roles only the sender builds replies.
  const { default: MailComposer } = await import('nodemailer/lib/mail-composer/index.js');
  const { email } = reply;
  const recipient = email.reply_recipient;
  if (recipient !== null && !isSingleAddress(recipient)) {
    throw permanentError('reply_recipient_invalid', `the reply to ${email.email_id} has no single valid recipient`);
  }
  if (recipient === null && !options.draft) {
    throw permanentError('reply_recipient_invalid', `the reply to ${email.email_id} cannot be sent: ${email.recipient_problem}`);
  }
  const references = [...email.references];
  if (email.message_id_header && !references.includes(email.message_id_header)) {
    references.push(email.message_id_header);
  }
  const headers: Record<string, string> = {
    'Auto-Submitted': 'auto-replied',
    'X-Ragmail-Email-Id': email.email_id,
  };
  if (options.draft) headers['X-Ragmail-Status'] = 'draft';
  if (recipient === null) headers['X-Ragmail-Recipient-Problem'] = (email.recipient_problem ?? 'no single valid recipient').replace(/[\x00-\x1f\x7f]/g, ' ');

  const composer = new MailComposer({
    from: email.agent_email,
    // An address object, never a string: the composer splits a string at its commas.
    to: recipient === null ? undefined : { name: '', address: recipient },
    subject: reply.subject,
    messageId: reply.message_id,
    inReplyTo: email.message_id_header ?? undefined,
    references: references.length > 0 ? references : undefined,
    date: new Date(),
    headers,
    text: reply.body,
    // Replies are built from data only: the composer must never read files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile().build();
}
