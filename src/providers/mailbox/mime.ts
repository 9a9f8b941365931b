/**
 * MIME in and out: raw RFC 5322 messages become `IncomingEmail`s (postal-mime), replies become
 * raw messages in the thread of the email they answer (nodemailer's mail composer). Shared by
 * every mailbox provider, so Maildir and Gmail thread and guard replies the same way.
 */
import { createHash } from 'node:crypto';
import PostalMime, { type Address, type Email as ParsedEmail } from 'postal-mime';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { permanentError } from '../../errors.js';
import { emailSchema } from '../../messaging/schemas.js';
import type { IncomingEmail, OutgoingReply } from './spec.js';
import { automatedReason, priorityOf } from './safety.js';

/** Where an email was read from; part of its identity when it has no Message-ID. */
export interface ParseEmailOptions {
  /** The mailbox address the email arrived in (tenant namespace). */
  agentEmail: string;
  /** Where the email sits in its mailbox (Maildir file name, Gmail message id). */
  mailboxRef: string;
}

/** Options of `buildReply`. */
export interface BuildReplyOptions {
  /** Marks the message as a draft for a human to review (`X-Ragmail-Status: draft`); default false. */
  draft?: boolean;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function stripAngleBrackets(messageId: string): string {
  return messageId.trim().replace(/^<+/, '').replace(/>+$/, '').trim();
}

/** Message-IDs of a References / In-Reply-To value, angle brackets kept, in order. */
function messageIdList(value: string | undefined): string[] {
  if (!value) return [];
  const bracketed = value.match(/<[^<>\s]+>/g);
  if (bracketed) return bracketed;
  // Some senders drop the brackets; each whitespace-separated token is then one id.
  return value.split(/\s+/).filter(Boolean).map((id) => `<${id}>`);
}

/** Lower-case bare addresses, with groups unwrapped. */
function addressList(addresses: Address[] | Address | undefined): string[] {
  const list = addresses === undefined ? [] : Array.isArray(addresses) ? addresses : [addresses];
  return list
    .flatMap((entry) => (entry.group ? entry.group : [entry]))
    .map((mailbox) => mailbox.address.trim().toLowerCase())
    .filter((address) => address.includes('@'));
}

/** The email's headers keyed by lower-case name; the first of repeated headers wins. */
function headerRecord(parsed: ParsedEmail): Record<string, string> {
  const record: Record<string, string> = {};
  for (const header of parsed.headers) {
    if (!(header.key in record)) record[header.key] = header.value;
  }
  return record;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * Readable text of an HTML body, for HTML-only emails. postal-mime keeps its own converter
 * private, and a classifier needs words, not layout, so a small conversion is enough.
 */
export function htmlToText(html: string): string {
  return html
    .replace(/<(head|style|script)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<br\b[^>]*>/gi, '\n')
    .replace(/<li\b[^>]*>/gi, '\n- ')
    .replace(/<\/(p|h[1-6]|table|ul|ol|blockquote)\s*>/gi, '\n\n')
    .replace(/<\/(div|tr)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&#x([0-9a-f]+);/gi, (_match, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_match, decimal: string) => String.fromCodePoint(Number(decimal)))
    .replace(/&([a-z]+);/gi, (match, name: string) => NAMED_ENTITIES[name.toLowerCase()] ?? match)
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** ISO time of a Date header; postal-mime hands back the raw value when it does not parse. */
function receivedAt(date: string | undefined): string {
  const parsed = date ? new Date(date) : null;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : new Date().toISOString();
}

/**
 * Parses a raw message into the email the poller publishes.
 *
 * @throws RagmailError `email_unparseable` (permanent) when the message cannot be parsed or has
 *   no usable sender: such mail can never be answered, however often it is retried.
 */
export async function parseEmail(raw: Buffer | string, options: ParseEmailOptions): Promise<IncomingEmail> {
  let parsed: ParsedEmail;
  try {
    parsed = await PostalMime.parse(raw);
  } catch (error) {
    throw permanentError('email_unparseable', `cannot parse email ${options.mailboxRef}: ${String(error)}`, error);
  }

  const from = addressList(parsed.from)[0];
  if (!from) {
    throw permanentError('email_unparseable', `email ${options.mailboxRef} has no sender address in From`);
  }
  const headers = headerRecord(parsed);
  const messageIdHeader = parsed.messageId ? `<${stripAngleBrackets(parsed.messageId)}>` : null;
  const emailId = messageIdHeader
    ? stripAngleBrackets(messageIdHeader)
    : sha256Hex(options.agentEmail + options.mailboxRef);
  const references = messageIdList(parsed.references);
  const threadRoot = references[0] ?? messageIdList(parsed.inReplyTo)[0];
  const subject = parsed.subject ?? '';
  const body = parsed.text?.trim() ? parsed.text : htmlToText(parsed.html ?? '');

  const candidate = {
    email_id: emailId,
    thread_id: threadRoot ? stripAngleBrackets(threadRoot) : emailId,
    agent_email: options.agentEmail,
    mailbox_ref: options.mailboxRef,
    from,
    reply_to: addressList(parsed.replyTo)[0] ?? null,
    to: addressList(parsed.to),
    subject,
    body,
    message_id_header: messageIdHeader,
    references,
    received_at: receivedAt(parsed.date),
    priority: priorityOf(subject, headers),
  };
  // Validate here so a message the consumers would reject never leaves the mailbox.
  const validated = emailSchema.safeParse(candidate);
  if (!validated.success) {
    throw permanentError('email_unparseable', `email ${options.mailboxRef} is invalid: ${validated.error.message}`);
  }

  // Mail from the mailbox itself would make the responder answer its own replies: a loop.
  const automated =
    automatedReason(headers, from) ?? (from === options.agentEmail.toLowerCase() ? 'sent by the mailbox itself' : null);
  return { email: validated.data, automated };
}

/**
 * The deterministic Message-ID of the reply to an email: the same email always gets the same
 * reply id, so a send that crashed before its ack is found instead of repeated (DESIGN.md §4).
 * Its shape is `<ragmail.<32 hex of sha256(agentEmail + emailId)>@<domain of agentEmail>>`.
 */
export function replyMessageId(emailId: string, agentEmail: string): string {
  const domain = agentEmail.slice(agentEmail.lastIndexOf('@') + 1).toLowerCase();
  return `<ragmail.${sha256Hex(agentEmail + emailId).slice(0, 32)}@${domain}>`;
}

/** The subject of a reply: `Re: ` once, never `Re: Re: `. */
export function replySubject(subject: string): string {
  const trimmed = subject.trim();
  return /^re\s*:/i.test(trimmed) ? trimmed : `Re: ${trimmed}`.trim();
}

/**
 * Builds the raw RFC 5322 reply. It goes to the email's `Reply-To` or else its sender, and
 * nowhere else (DESIGN.md §7), carries `Auto-Submitted: auto-replied` so other responders do
 * not answer it (RFC 3834 §5), and threads with `In-Reply-To` and `References`.
 */
export async function buildReply(reply: OutgoingReply, options: BuildReplyOptions = {}): Promise<Buffer> {
  const { email } = reply;
  const references = [...email.references];
  if (email.message_id_header && !references.includes(email.message_id_header)) {
    references.push(email.message_id_header);
  }
  const headers: Record<string, string> = {
    'Auto-Submitted': 'auto-replied',
    'X-Ragmail-Email-Id': email.email_id,
  };
  if (options.draft) headers['X-Ragmail-Status'] = 'draft';

  const composer = new MailComposer({
    from: email.agent_email,
    to: email.reply_to ?? email.from,
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
