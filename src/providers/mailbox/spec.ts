/** The mailbox contract: where mail comes from and where replies and drafts go. */
import type { Email } from '../../pipeline/messages.js';

/** A new email as read from the mailbox, before it is published. */
export interface IncomingEmail {
  email: Omit<Email, 'priority'> & { priority: number };
  /** Why this email must not be answered (RFC 3834 automated mail), or null. */
  automated: string | null;
}

/** A reply ready to go out in the thread of `email`. */
export interface OutgoingReply {
  email: Email;
  /** Deterministic Message-ID of the reply (angle brackets included): detects a send that crashed. */
  message_id: string;
  subject: string;
  body: string;
}

/**
 * What a mailbox whose send takes two steps (IMAP/SMTP: the SMTP transaction, then the copy in the
 * Sent folder) tells its caller before, during and between them.
 */
export interface SendProgress {
  /**
   * The SMTP transaction is about to begin: the caller records it, and a sender that takes over a
   * send that stopped inside it never sends the reply again blindly. Awaited before anything is
   * sent; when it throws, nothing is.
   */
  transmitting(): Promise<void>;
  /**
   * The SMTP transaction failed in a way that proves the reply did not leave (refused, or never
   * connected): a retry may send it. Not called when the failure leaves that uncertain. Must not throw.
   */
  transmissionFailed(): Promise<void>;
  /**
   * The reply has left (the SMTP server accepted it) and its copy is not filed yet: until it is,
   * {@link Mailbox.findReply} cannot tell that it went out, so the caller records it now, and a
   * send that dies before the copy is finished with {@link Mailbox.fileSent}, never sent again.
   * Awaited before the copy is filed; it must not throw (the reply is out whatever it does).
   */
  transmitted(): Promise<void>;
}

export interface Mailbox {
  readonly provider: string;
  /** The mailbox addresses (`agent_email`) this mailbox serves. */
  addresses(): Promise<string[]>;
  /** New emails not yet taken, oldest first, at most `limit`. Does not mark them taken. */
  fetchNew(limit: number): Promise<IncomingEmail[]>;
  /** Marks an email taken (Maildir: new/ → cur/; Gmail: label processed) so it is not fetched again. */
  markTaken(email: Email): Promise<void>;
  /** Whether a reply with this Message-ID was already sent or drafted. */
  findReply(agentEmail: string, messageId: string): Promise<'sent' | 'draft' | null>;
  /** Sends the reply in its thread; a mailbox of two steps reports the first through `progress`. */
  send(reply: OutgoingReply, progress?: SendProgress): Promise<{ id: string }>;
  /**
   * Finishes a send that died after {@link SendProgress.transmitted}: files the reply's copy
   * (when it is not there yet) without sending anything. Only mailboxes whose send takes two steps
   * have it; for the others a send is done in one.
   */
  fileSent?(reply: OutgoingReply): Promise<{ id: string }>;
  saveDraft(reply: OutgoingReply): Promise<{ id: string }>;
  /**
   * Deletes the draft of the reply with this Message-ID (once a reviewer's approved version went
   * out, the draft must not be sent by hand as well). A missing draft is not an error.
   * @returns true when a draft was deleted.
   */
  deleteDraft(agentEmail: string, messageId: string): Promise<boolean>;
  /**
   * Waits until the mailbox may have new mail (IMAP IDLE: the server announced a message), at most
   * `maxWaitMs`, or until `signal` aborts. Without it the poller sleeps its interval.
   */
  waitForNew?(maxWaitMs: number, signal: AbortSignal): Promise<void>;
  /** Releases what the mailbox holds open (the IMAP connections); the others hold nothing. */
  close?(): Promise<void>;
}
