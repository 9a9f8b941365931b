/**
 * The send-claim contract: what keeps a reply from being sent twice by senders running at the same
 * time, in one process, on one host or on several hosts. A sender claims an email's id under a
 * lease before sending, completes it once sent, and releases it after a failure before sending.
 * A send of two steps (SMTP, then the Sent copy) is recorded `transmitted` between them, so a
 * sender that takes over finishes it instead of sending the reply again. The start of the SMTP
 * transaction is recorded `transmitting` before it: a sender that takes over a send that stopped
 * inside it cannot know whether the reply left, so it never sends it again blindly (the sender
 * looks for it, then hands it to review).
 */

/** Answer of {@link SendClaims.claim}. */
export type SendClaimResult =
  /** The caller owns the email now and may send. */
  | 'claimed'
  /** The caller owns the email now, but its reply already left: finish the send (file its copy), never send again. */
  | 'transmitted'
  /**
   * The caller owns the email now, but a sender began the reply's SMTP transaction and stopped
   * before its outcome was recorded: the reply may have left. Never send it blindly.
   */
  | 'transmitting'
  /** A previous send completed: acknowledge the message without sending. */
  | 'done'
  /** Another owner holds an unexpired lease: try again later. */
  | 'held';

/** What was done with a reply, recorded when a send completes. */
export interface SendCompletion {
  /** Send policy or stage that was applied (sent, drafted, shadowed …). */
  mode: string;
  /** Message-ID of the reply or draft. */
  message_id: string;
}

export interface SendClaims {
  /** Implementation name: `local` (one host) or `redis` (every host). */
  readonly provider: string;
  /**
   * Claims `emailId` for `owner` for `leaseMs` milliseconds, atomically. A claim by the owner that
   * already holds the lease renews it; an expired or released claim is taken over.
   */
  claim(emailId: string, owner: string, leaseMs: number): Promise<SendClaimResult>;
  /**
   * Records a completed send; later claims answer `done`. Completing without a claim is allowed:
   * a sender that found its reply already in the mailbox records that fact the same way.
   */
  complete(emailId: string, result: SendCompletion): Promise<void>;
  /**
   * Records that the reply left (the SMTP server accepted it) before the send is complete: until
   * {@link complete}, every claim of `emailId` is answered `transmitted`. Written before anything
   * else happens to the reply, since the mailbox cannot tell yet that it went out.
   */
  transmitted(emailId: string, messageId: string): Promise<void>;
  /**
   * Records that the SMTP transaction of the reply (Message-ID `messageId`) is about to begin:
   * until {@link transmissionFailed}, {@link transmitted} or {@link complete}, every claim of
   * `emailId` is answered `transmitting`. Must succeed before the transaction starts, or the reply
   * is not sent: a sender that dies inside it leaves no other trace.
   */
  transmitting(emailId: string, messageId: string): Promise<void>;
  /**
   * Withdraws {@link transmitting} after an SMTP transaction that failed in a way proving the reply
   * did not leave (refused by the server, or broken before the message), so a retry may send it.
   */
  transmissionFailed(emailId: string): Promise<void>;
  /**
   * Gives up a claim after a failure before anything was sent, so a retry need not wait for the
   * lease to expire. Only the owner can release; a completed send stays completed.
   * @returns true when a claim was released.
   */
  release(emailId: string, owner: string): Promise<boolean>;
  /**
   * The owner of the current claim on `emailId`, if any: lets a sender that was answered `held`
   * see that the holder is a dead process on its own host and release the claim instead of
   * waiting for the lease to run out.
   */
  holder(emailId: string): Promise<string | undefined>;
  /** Releases connections (not the claims themselves). */
  close(): Promise<void>;
}
