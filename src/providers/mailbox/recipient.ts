/**
 * Who a reply goes to: exactly one address, resolved once, when the email is read. postal-mime
 * hands back `Reply-To: <a@x,b@y,…>` as ONE address string, and a mail composer given that string
 * splits it again, so a header is judged by every address it holds, and only a single valid
 * addr-spec is ever a recipient. Anything else is a problem a person must look at.
 */
import type { Address } from 'postal-mime';
import { MAX_ADDRESS_LENGTH, singleAddressSchema } from '../../pipeline/messages.js';

/** The reply's one recipient, or why there is none (exactly one of the two is set). */
export type ReplyRecipient = { recipient: string; problem: null } | { recipient: null; problem: string };

/** Characters that separate addresses inside one postal-mime address string. */
const SEPARATORS = /[,;\s]+/;

/** The mailboxes of an address header, groups unwrapped. */
export function mailboxesOf(addresses: Address[] | Address | undefined): Array<{ address: string; name?: string }> {
  const list = addresses === undefined ? [] : Array.isArray(addresses) ? addresses : [addresses];
  return list.flatMap((entry) => (entry.group ? entry.group : [entry]));
}

/**
 * Every address a header holds, lower-case: each mailbox postal-mime found, split again at commas,
 * semicolons and spaces, since one "address" can be a whole list.
 */
export function addressesIn(addresses: Address[] | Address | undefined): string[] {
  return mailboxesOf(addresses)
    .flatMap((mailbox) => (mailbox.address ?? '').split(SEPARATORS))
    .map((address) => address.trim().toLowerCase())
    .filter((address) => address.includes('@'));
}

/** `local+tag@domain` as `local@domain`, lower-case: the mailbox a sub-address delivers to (RFC 5233). */
function mailboxOf(address: string): string {
  const normalized = address.trim().toLowerCase();
  const at = normalized.lastIndexOf('@');
  if (at < 0) return normalized;
  const local = normalized.slice(0, at);
  const plus = local.indexOf('+');
  return `${plus < 0 ? local : local.slice(0, plus)}${normalized.slice(at)}`;
}

/**
 * Whether `address` reaches the mailbox `agentEmail` itself: compared without case and without a
 * `+tag`, since `Support+x@acme.example` is delivered to `support@acme.example`, and answering it
 * would make the mailbox answer its own replies.
 */
export function isOwnAddress(address: string, agentEmail: string): boolean {
  return mailboxOf(address) === mailboxOf(agentEmail);
}

/** Whether `value` is one plain mailbox address (no list, name, brackets, quotes or spaces). */
export function isSingleAddress(value: string): boolean {
  // The length first: no pattern runs on a string no address can be.
  return value.length <= MAX_ADDRESS_LENGTH && singleAddressSchema.safeParse(value).success;
}

/** A value for a problem sentence: short, and with control characters escaped. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** The one recipient a header names, or why it names none. */
function recipientOf(header: 'Reply-To' | 'From', addresses: Address[] | Address | undefined): ReplyRecipient {
  const mailboxes = mailboxesOf(addresses);
  const held = addressesIn(addresses);
  if (held.length > 1) return { recipient: null, problem: `${header} names ${held.length} addresses` };
  if (mailboxes.length !== 1 || held.length === 0) return { recipient: null, problem: `${header} holds no usable address` };
  const address = (mailboxes[0].address ?? '').trim().toLowerCase();
  if (!isSingleAddress(address)) return { recipient: null, problem: `${header} address ${quoted(address)} is not a valid address` };
  return { recipient: address, problem: null };
}

/**
 * The reply's recipient: the Reply-To when the email has one (RFC 5322 §3.6.2), else the From, and
 * only when that header holds exactly one valid address. A Reply-To that is unusable does not fall
 * back to the From: its writer asked for replies elsewhere, and a person should decide.
 */
export function resolveReplyRecipient(from: Address[] | Address | undefined, replyTo: Address[] | Address | undefined, hasReplyTo: boolean): ReplyRecipient {
  return hasReplyTo ? recipientOf('Reply-To', replyTo) : recipientOf('From', from);
}
