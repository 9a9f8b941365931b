/**
 * Any mail server: reading over IMAP (imapflow), sending over SMTP (nodemailer).
 *
 * New mail is every message of the watched folder without the `$RagmailTaken` keyword, oldest
 * (lowest UID) first. The state lives on the server, so a restarted poller neither takes a message
 * twice nor misses one; an email's `mailbox_ref` is `<UIDVALIDITY>:<UID>`, and when the server
 * renumbered the folder since (a new UIDVALIDITY) `markTaken` finds the message by its Message-ID
 * instead of flagging whatever now has that UID. Taking adds `\Seen` and the keyword, then moves
 * the message to IMAP_TAKEN_FOLDER when one is set.
 *
 * New mail is announced by IMAP IDLE on a second connection (`waitForNew`, imap-idle.ts), so the poller takes
 * it at once; POLL_INTERVAL_MS is then only the fallback.
 *
 * A reply goes out over SMTP, then a copy is appended to the Sent folder; drafts are appended to
 * the Drafts folder with `\Draft`. `findReply` searches both by the reply's deterministic
 * Message-ID, which is what keeps a send exactly-once (docs/ARCHITECTURE.md#idempotency). Between
 * SMTP's acceptance and the Sent copy the reply is out but cannot be found: `send` reports that
 * moment (`SendProgress.transmitted`) for the sender to record, and `fileSent` finishes such a send.
 * Before the SMTP transaction `send` reports its start (`SendProgress.transmitting`), and withdraws
 * it when the failure proves nothing left: a sender that dies inside the transaction leaves the
 * reply's fate unknown, which the sender that takes over hands to review rather than sending again.
 */
import type { ImapFlow } from 'imapflow';
import { RagmailError, permanentError, transientError } from '../../lib/errors.js';
import type { Email } from '../../pipeline/messages.js';
import { imapError, smtpError, smtpSentNothing } from './mail-server-errors.js';
import { append, holds, mailboxRef, openFolder, parseMailboxRef, withMatches } from './imap-folders.js';
import { createIdleWatcher } from './imap-idle.js';
import { connectImap, newSmtpTransport, reportConnectionError, type ConnectionLogger, type MailServers } from './mail-servers.js';
import { DEFAULT_EMAIL_PARSE_LIMITS, buildReply, parseEmail, type EmailParseLimits } from './mime.js';
import type { IncomingEmail, Mailbox, OutgoingReply, SendProgress } from './spec.js';

/** Settings of {@link createImapMailbox}. */
export interface ImapMailboxSettings extends MailServers {
  /** The address served (IMAP_ADDRESS): the `agent_email` of every email read, the From of every reply. */
  address: string;
  /** Folder new mail is read from (IMAP_MAILBOX). Default `INBOX`. */
  mailbox?: string;
  /** Folder taken mail is moved to (IMAP_TAKEN_FOLDER), created on first use; empty: flagged only. */
  takenFolder?: string;
  /** Folder of sent replies (IMAP_SENT_FOLDER); empty: the server's `\Sent` folder, else `Sent`. */
  sentFolder?: string;
  /** Folder of drafts (IMAP_DRAFTS_FOLDER); empty: the server's `\Drafts` folder, else `Drafts`. */
  draftsFolder?: string;
  /** Largest message read and parse time budget (MAX_EMAIL_BYTES, EMAIL_PARSE_TIMEOUT_MS). */
  parseLimits?: EmailParseLimits;
  /** Told about messages set aside and connection errors. */
  logger?: ConnectionLogger;
}

/** The IMAP mailbox holds a connection (`close` logs it out) and sends in two steps (`fileSent`). */
export interface ImapMailbox extends Mailbox {
  fileSent(reply: OutgoingReply): Promise<{ id: string }>;
  close(): Promise<void>;
}

/** Keyword of a taken message (a `$` keyword: a client shows it as a tag at most). */
export const TAKEN_KEYWORD = '$RagmailTaken';
/** Keyword of a message that can never be answered (too large, unparseable); it stays unread for a person. */
export const REJECTED_KEYWORD = '$RagmailRejected';
/** Tries of the Sent copy of a reply already accepted by SMTP. */
const SENT_COPY_ATTEMPTS = 3;

/** Creates the IMAP/SMTP mailbox; see the module comment. Nothing connects before the first call. */
export function createImapMailbox(settings: ImapMailboxSettings): ImapMailbox {
  const agentEmail = settings.address.trim().toLowerCase();
  const watched = settings.mailbox || 'INBOX';
  const parseLimits = settings.parseLimits ?? DEFAULT_EMAIL_PARSE_LIMITS;
  let current: ImapFlow | undefined;
  let connecting: Promise<ImapFlow> | undefined;
  const watcher = createIdleWatcher(settings, watched);
  const folders = new Map<'sent' | 'drafts', Promise<string>>();

  async function connection(): Promise<ImapFlow> {
    if (current?.usable) return current;
    connecting ??= (async () => {
      // A dropped connection is found unusable by the next call, which opens a new one.
      current = await connectImap(settings, {}, (client) =>
        client.on('error', (error: Error) => reportConnectionError(settings.logger, 'imap connection error', error)),
      );
      return current;
    })().finally(() => (connecting = undefined));
    return connecting;
  }

  async function withImap<T>(action: string, work: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = await connection();
    try {
      return await work(client);
    } catch (error) {
      throw imapError(action, error);
    }
  }

  /** The configured folder, or the one the server marks with the special use, or the usual name. */
  function folder(kind: 'sent' | 'drafts'): Promise<string> {
    const configured = kind === 'sent' ? settings.sentFolder : settings.draftsFolder;
    if (configured) return Promise.resolve(configured);
    let found = folders.get(kind);
    if (!found) {
      const specialUse = kind === 'sent' ? '\\Sent' : '\\Drafts';
      found = withImap(
        'list folders',
        async (client) => (await client.list()).find((entry) => entry.specialUse === specialUse)?.path ?? (kind === 'sent' ? 'Sent' : 'Drafts'),
      );
      found.catch(() => folders.delete(kind));
      folders.set(kind, found);
    }
    return found;
  }

  /** Flags a message that can never be answered so it is not read again, and leaves it unread. */
  async function setAside(client: ImapFlow, uid: number, reason: string): Promise<void> {
    settings.logger?.warn('imap message set aside', { mailbox: watched, uid, reason });
    await client.messageFlagsAdd([uid], [TAKEN_KEYWORD, REJECTED_KEYWORD], { uid: true });
  }

  async function fetchNew(limit: number): Promise<IncomingEmail[]> {
    if (limit < 1) return [];
    return withImap('fetch new mail', async (client) => {
      const lock = await openFolder(client, watched);
      try {
        const opened = client.mailbox;
        if (!opened) throw transientError('mailbox_unavailable', `imap folder ${watched} is not open`);
        const flags = opened.permanentFlags;
        if (!settings.takenFolder && flags && !flags.has('\\*') && !flags.has(TAKEN_KEYWORD)) {
          throw permanentError('configuration_invalid', `the IMAP server keeps no keywords in ${watched}: set IMAP_TAKEN_FOLDER so taken mail is moved`);
        }
        const uids = ((await client.search({ unKeyword: TAKEN_KEYWORD, deleted: false }, { uid: true })) || []).sort((left, right) => left - right);
        const emails: IncomingEmail[] = [];
        for (const uid of uids) {
          if (emails.length >= limit) break;
          // The size first, so a message too large is never downloaded.
          const head = await client.fetchOne(String(uid), { uid: true, size: true }, { uid: true });
          if (!head) continue; // expunged meanwhile
          if ((head.size ?? 0) > parseLimits.maxBytes) {
            await setAside(client, uid, `message of ${head.size} bytes exceeds the limit of ${parseLimits.maxBytes}`);
            continue;
          }
          const message = await client.fetchOne(String(uid), { uid: true, source: true }, { uid: true });
          if (!message || !message.source) continue;
          try {
            emails.push(await parseEmail(message.source, { agentEmail, mailboxRef: mailboxRef(opened.uidValidity, uid), limits: parseLimits }));
          } catch (error) {
            if (!(error instanceof RagmailError) || error.retryable) throw error;
            await setAside(client, uid, `${error.code}: ${error.message}`);
          }
        }
        return emails;
      } finally {
        lock.release();
      }
    });
  }

  async function markTaken(email: Email): Promise<void> {
    const ref = parseMailboxRef(email.mailbox_ref);
    await withImap('mark taken', async (client) => {
      const lock = await openFolder(client, watched);
      try {
        const opened = client.mailbox;
        let uids: number[];
        if (opened && String(opened.uidValidity) === ref.uidValidity) {
          uids = (await client.search({ uid: String(ref.uid) }, { uid: true })) || [];
        } else if (email.message_id_header) {
          // Renumbered since it was read: the UID may now be another message.
          uids = (await client.search({ header: { 'message-id': email.message_id_header }, unKeyword: TAKEN_KEYWORD }, { uid: true })) || [];
        } else {
          settings.logger?.warn('imap folder renumbered (UIDVALIDITY changed) and the email has no Message-ID: not marked', { mailbox_ref: email.mailbox_ref });
          return;
        }
        // Gone (moved by an earlier, redelivered attempt, or by a person): the same as taken.
        if (uids.length === 0) return;
        await client.messageFlagsAdd(uids, ['\\Seen', TAKEN_KEYWORD], { uid: true });
        const takenFolder = settings.takenFolder;
        if (takenFolder) {
          // imapflow answers a failed MOVE with false, not a throw: the folder is then made and the move tried once more.
          if (!(await client.messageMove(uids, takenFolder, { uid: true }))) {
            await client.mailboxCreate(takenFolder);
            if (!(await client.messageMove(uids, takenFolder, { uid: true }))) {
              throw transientError('mailbox_unavailable', `imap could not move the taken email ${email.mailbox_ref} to ${takenFolder}`);
            }
          }
        }
      } finally {
        lock.release();
      }
    });
  }

  async function findReply(_agentEmail: string, messageId: string): Promise<'sent' | 'draft' | null> {
    const [sent, drafts] = [await folder('sent'), await folder('drafts')];
    return withImap('find reply', async (client) => {
      if (await holds(client, sent, messageId)) return 'sent';
      if (await holds(client, drafts, messageId)) return 'draft';
      return null;
    });
  }

  /** Appends the Sent copy of a reply SMTP already accepted, with a few tries on a fresh connection. */
  async function appendSentCopy(path: string, raw: Buffer, messageId: string): Promise<string | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await withImap('append sent copy', async (client) =>
          // Already there (an earlier try whose answer was lost, or Gmail, which files what its SMTP server sent): no duplicate.
          (await holds(client, path, messageId)) ? undefined : append(client, path, raw, ['\\Seen']),
        );
      } catch (error) {
        if (attempt >= SENT_COPY_ATTEMPTS) {
          // The reply went out: failing the send now would dead-letter it, and replaying that dead
          // letter would send it a second time. The missing copy is logged for a person instead.
          settings.logger?.warn('imap reply sent, but its copy could not be appended to the Sent folder', {
            code: 'mailbox_sent_copy_failed',
            message_id: messageId,
            folder: path,
            error: (error as Error).message,
          });
          return undefined;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }

  async function send(reply: OutgoingReply, progress?: SendProgress): Promise<{ id: string }> {
    const sent = await folder('sent');
    // Sent already (a redelivered send whose ack was lost): the same as sending it now.
    if (await withImap('find sent reply', (client) => holds(client, sent, reply.message_id))) return { id: reply.message_id };
    const raw = await buildReply(reply);
    // buildReply refuses a reply without one valid recipient, so there is one here.
    const recipient = reply.email.reply_recipient!;
    await progress?.transmitting();
    const transport = newSmtpTransport(settings);
    try {
      await transport.sendMail({ envelope: { from: agentEmail, to: [recipient] }, raw });
    } catch (error) {
      // A connection lost once open leaves `transmitting` standing: the reply may have left.
      if (smtpSentNothing(error)) await progress?.transmissionFailed();
      throw smtpError('send', error);
    } finally {
      transport.close();
    }
    await progress?.transmitted();
    return { id: (await appendSentCopy(sent, raw, reply.message_id)) ?? reply.message_id };
  }

  async function fileSent(reply: OutgoingReply): Promise<{ id: string }> {
    const sent = await folder('sent');
    // Built again: the same Message-ID, headers and text as the reply that went out, dated now.
    const raw = await buildReply(reply);
    return { id: (await appendSentCopy(sent, raw, reply.message_id)) ?? reply.message_id };
  }

  async function saveDraft(reply: OutgoingReply): Promise<{ id: string }> {
    const drafts = await folder('drafts');
    const raw = await buildReply(reply, { draft: true });
    return withImap('save draft', async (client) => {
      // The same reply is drafted once: a repeated call leaves the first draft as it was.
      if (await holds(client, drafts, reply.message_id)) return { id: reply.message_id };
      return { id: (await append(client, drafts, raw, ['\\Draft', '\\Seen'])) ?? reply.message_id };
    });
  }

  async function deleteDraft(_agentEmail: string, messageId: string): Promise<boolean> {
    const drafts = await folder('drafts');
    return withImap('delete draft', (client) =>
      withMatches(client, drafts, messageId, async (uids) => uids.length > 0 && (await client.messageDelete(uids, { uid: true })), false),
    );
  }

  async function close(): Promise<void> {
    const client = current;
    current = undefined;
    if (client?.usable) await client.logout().catch(() => client.close());
    await watcher.close();
  }

  return {
    provider: 'imap',
    addresses: async () => [agentEmail],
    fetchNew,
    markTaken,
    findReply,
    send,
    fileSent,
    saveDraft,
    deleteDraft,
    waitForNew: watcher.waitForNew,
    close,
  };
}
