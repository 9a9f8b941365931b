/**
 * What the IMAP mailbox does in one folder over a logged-in connection: open it with a fresh view,
 * find messages by Message-ID, append one (creating the folder on the server's TRYCREATE), and the
 * `<UIDVALIDITY>:<UID>` refs that name a message.
 */
import type { ImapFlow, MailboxLockObject } from 'imapflow';
import { permanentError, transientError } from '../../lib/errors.js';

/** `<UIDVALIDITY>:<UID>` of a message. */
export function mailboxRef(uidValidity: bigint, uid: number): string {
  return `${uidValidity}:${uid}`;
}

export function parseMailboxRef(ref: string): { uidValidity: string; uid: number } {
  const match = /^(\d+):(\d+)$/.exec(ref);
  if (!match) throw permanentError('mailbox_ref_invalid', `not an IMAP mailbox ref (<UIDVALIDITY>:<UID>): ${JSON.stringify(ref)}`);
  return { uidValidity: match[1]!, uid: Number(match[2]) };
}

/** The Message-ID in angle brackets, as it stands in the header. */
function bracketed(messageId: string): string {
  const bare = messageId.trim().replace(/^<+/, '').replace(/>+$/, '');
  return `<${bare}>`;
}

function isTryCreate(error: unknown): boolean {
  return Boolean(error && typeof error === 'object' && (error as { serverResponseCode?: unknown }).serverResponseCode === 'TRYCREATE');
}

function isMissingMailbox(error: unknown): boolean {
  return Boolean(error && typeof error === 'object' && ((error as { mailboxMissing?: unknown }).mailboxMissing === true || isTryCreate(error)));
}

/**
 * Opens a folder and brings this connection's view of it up to date. A folder selected earlier on
 * the connection does not show mail that arrived since until the server syncs it, and a SEARCH
 * answers from the old view (Dovecot syncs on NOOP).
 */
export async function openFolder(client: ImapFlow, path: string, readOnly = false): Promise<MailboxLockObject> {
  const lock = await client.getMailboxLock(path, { readOnly });
  try {
    await client.noop();
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

/**
 * Runs `work` on the UIDs of the undeleted messages of `path` with this Message-ID, the folder
 * open; none when the folder does not exist.
 */
export async function withMatches<T>(client: ImapFlow, path: string, messageId: string, work: (uids: number[]) => Promise<T>, readOnly = true): Promise<T> {
  let lock;
  try {
    lock = await openFolder(client, path, readOnly);
  } catch (error) {
    if (isMissingMailbox(error)) return work([]);
    throw error;
  }
  try {
    return await work((await client.search({ header: { 'message-id': bracketed(messageId) }, deleted: false }, { uid: true })) || []);
  } finally {
    lock.release();
  }
}

/** Whether `path` holds an undeleted message with this Message-ID. */
export function holds(client: ImapFlow, path: string, messageId: string): Promise<boolean> {
  return withMatches(client, path, messageId, async (uids) => uids.length > 0);
}

/** Appends a message, creating the folder when the server says it is missing. @returns its ref. */
export async function append(client: ImapFlow, path: string, raw: Buffer, flags: string[]): Promise<string | undefined> {
  let appended;
  try {
    appended = await client.append(path, raw, flags);
  } catch (error) {
    if (!isTryCreate(error)) throw error;
    await client.mailboxCreate(path);
    appended = await client.append(path, raw, flags);
  }
  if (!appended) throw transientError('mailbox_unavailable', `imap append to ${path} failed`);
  return appended.uid !== undefined && appended.uidValidity !== undefined ? `${path}:${mailboxRef(appended.uidValidity, appended.uid)}` : undefined;
}
