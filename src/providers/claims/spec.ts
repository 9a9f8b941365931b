/**
 * The send-claim contract: what keeps a reply from being sent twice by senders running at the same
 * time, in one process, on one host or on several hosts. A sender claims an email's id under a
 * lease before sending, completes it once sent, and releases it after a failure before sending.
 * A send of two steps (SMTP, then the Sent copy) is recorded `transmitted` between them, so a
 * sender that takes over finishes it instead of sending the reply again.
 */

/** Answer of {@link SendClaims.claim}. */
export type SendClaimResult =
  /** The caller owns the email now and may send. */
  | 'claimed'
  /** The caller owns the email now, but its reply already left: finish the send (file its copy), never send again. */
  | 'transmitted'
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
