/**
 * Safety rules of an auto-responder (docs/ARCHITECTURE.md#safety, RFC 3834): which mail must never be answered,
 * and how urgent an email looks. Pure functions over headers, shared by every mailbox provider.
 */

/** Priority of an email with no urgency signal (AMQP priorities run 1-10, 10 most urgent). */
export const DEFAULT_PRIORITY = 5;

/** A header and an urgent word in the subject agree: the strongest signal. */
export const PRIORITY_HEADER_AND_WORD = 10;
/** Only a header (`X-Priority: 1|2`, `Importance: high`, `Priority: urgent`) says urgent. */
export const PRIORITY_HEADER_ONLY = 9;
/** Only a word of the subject says urgent: weaker, since anyone can type "URGENT". */
export const PRIORITY_WORD_ONLY = 8;

/** `Precedence` values that mark mass or automatic mail (RFC 3834 §3.1.8 and common practice). */
const AUTOMATED_PRECEDENCE = new Set(['bulk', 'list', 'junk', 'auto_reply']);

/** Headers whose mere presence marks mail as sent by a list manager or an auto-responder. */
const AUTOMATED_HEADERS = ['list-id', 'list-unsubscribe', 'x-autoreply', 'x-autorespond', 'x-autoresponder'];

/**
 * Local parts of senders that never read replies: bounce daemons, `no-reply` robots, and list
 * managers (`owner-*`, `*-request`, RFC 3834 §3.2). Separators vary (`no-reply`, `no_reply`,
 * `noreply`), and robots often add a suffix (`noreply-billing`).
 */
const AUTOMATED_SENDER = /^(mailer-daemon|postmaster|listserv|majordomo|no[-_.]?reply|do[-_.]?not[-_.]?reply|owner-.+|.+-request)([-+_.].*)?$/i;

/** Whole words of a subject that signal urgency. */
const URGENT_WORDS = /\b(urgent|asap|outage|down|emergency|critical)\b/i;

/** The same headers keyed by lower-case name, since header names are case-insensitive. */
function lowerCaseKeys(headers: Record<string, string>): Map<string, string> {
  const result = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (!result.has(key)) result.set(key, String(value).trim());
  }
  return result;
}

/** The bare address of a `From` value, which may still carry a display name. */
function bareAddress(from: string): string {
  const bracketed = /<([^<>]*)>/.exec(from);
  return (bracketed ? bracketed[1] : from).trim().toLowerCase();
}

/**
 * Why an email must not be answered automatically, or null when a reply is allowed.
 * Answering automated mail risks mail loops and replies to robots (RFC 3834 §2).
 *
 * @param headers The email's headers; names are matched case-insensitively.
 * @param senders The sender, a bare address or `Name <address>`, or every address of From and
 *   Reply-To: one robot among them is enough, since the reply may reach it.
 */
export function automatedReason(headers: Record<string, string>, senders: string | readonly string[]): string | null {
  const byName = lowerCaseKeys(headers);

  const autoSubmitted = byName.get('auto-submitted');
  if (autoSubmitted !== undefined) {
    // The value may carry parameters (`auto-replied; owner-email=...`); only `no` means a person.
    const keyword = autoSubmitted.split(';')[0].trim().toLowerCase();
    if (keyword !== 'no') return `Auto-Submitted: ${keyword || '(empty)'}`;
  }

  const precedence = byName.get('precedence')?.toLowerCase();
  if (precedence !== undefined && AUTOMATED_PRECEDENCE.has(precedence)) {
    return `Precedence: ${precedence}`;
  }

  for (const name of AUTOMATED_HEADERS) {
    if (byName.has(name)) return `${name} header present`;
  }

  for (const sender of typeof senders === 'string' ? [senders] : senders) {
    const address = bareAddress(sender);
    const localPart = address.includes('@') ? address.slice(0, address.lastIndexOf('@')) : address;
    if (AUTOMATED_SENDER.test(localPart)) return `automated sender ${address}`;
  }
  return null;
}

/** Whether a header says the sender marked the email urgent. */
function hasUrgentHeader(byName: Map<string, string>): boolean {
  // X-Priority is `1 (Highest)` .. `5 (Lowest)`; 1 and 2 are the two "high" levels.
  const xPriority = byName.get('x-priority');
  if (xPriority !== undefined && /^[12]\b/.test(xPriority)) return true;
  if (byName.get('importance')?.toLowerCase() === 'high') return true;
  if (byName.get('priority')?.toLowerCase() === 'urgent') return true;
  return false;
}

/**
 * Priority 1-10 of an email, used as the AMQP priority of `emails.to_classify`.
 *
 * Mapping: 10 when a header and a subject word both signal urgency, 9 for a header only,
 * 8 for a subject word only, 5 otherwise. Urgent words (whole words, any case): urgent, asap,
 * outage, down, emergency, critical. Urgent headers: `X-Priority: 1` or `2`, `Importance: high`,
 * `Priority: urgent`.
 */
export function priorityOf(subject: string, headers: Record<string, string>): number {
  const header = hasUrgentHeader(lowerCaseKeys(headers));
  const word = URGENT_WORDS.test(subject);
  if (header && word) return PRIORITY_HEADER_AND_WORD;
  if (header) return PRIORITY_HEADER_ONLY;
  if (word) return PRIORITY_WORD_ONLY;
  return DEFAULT_PRIORITY;
}
