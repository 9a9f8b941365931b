/**
 * The sender's ledger: a reply is never sent twice. Before sending, a sender claims the email's id
 * under a lease; when the send succeeds it records the result. A redelivered message finds the
 * email `done`, or `held` while another live sender works on it. A sender that crashed mid-send
 * leaves a lease that expires, after which another sender may take over — and, because the reply
 * carries a deterministic Message-ID, check the mailbox before sending again.
 *
 * A send of two steps (IMAP/SMTP: the SMTP transaction, then the copy in the Sent folder) is
 * recorded `transmitted` between them: the mailbox check cannot see such a reply yet, so a sender
 * that takes over is answered `transmitted` and only finishes the send
 * (docs/ARCHITECTURE.md#idempotency). The start of the SMTP transaction is recorded too
 * (`transmitting`): a sender that died inside it may or may not have sent the reply, so a sender
 * taking over is answered `transmitting` and hands the reply to review instead of sending it again.
 *
 * Also keeps each mailbox's daily send quota, counted per UTC day.
 *
 * On PostgreSQL every host shares the ledger: a claim locks the email's row before it reads it, and
 * the quota is counted by one atomic statement, so no two hosts ever both win.
 */
import { forUpdate, type SqlClient } from './sql.js';

/** Answer of {@link SendLedger.claim}. */
export type ClaimResult =
  /** The caller owns the email now and may send. */
  | 'claimed'
  /**
   * The caller owns the email now, but the reply already left (a sender died after its mailbox
   * transmitted it, before the send was complete): finish the send, never send again.
   */
  | 'transmitted'
  /**
   * The caller owns the email now, but a sender began the reply's SMTP transaction and stopped
   * before its outcome was known: the reply may have left. Never send it blindly.
   */
  | 'transmitting'
  /** A previous send completed: acknowledge the message without sending. */
  | 'done'
  /** Another owner holds an unexpired lease: try again later. */
  | 'held';

/** What the ledger knows about one email. */
export interface SendRecord {
  email_id: string;
  /** `sending` while claimed, `released` after a failure before sending, `sent` once complete. */
  status: 'sending' | 'released' | 'sent';
  owner: string | null;
  /** Epoch milliseconds after which another owner may take the claim over. */
  lease_expires_ms: number;
  /** How many times the email was claimed, takeovers included. */
  attempts: number;
  /** Send policy that was applied (auto, draft, review, shadow). */
  mode: string | null;
  /** Message-ID of the reply or draft. */
  message_id: string | null;
  claimed_at: string | null;
  completed_at: string | null;
  /** When the mailbox said the reply left (SMTP accepted it), or null: set, and not `sent`, means transmitted but not complete. */
  transmitted_at: string | null;
  /** When a sender began the reply's SMTP transaction, or null (never, or it failed with nothing sent). */
  transmitting_at: string | null;
}

/** Answer of {@link SendLedger.tryConsumeQuota}. */
export interface QuotaResult {
  /** True when one send was counted against today's quota. */
  allowed: boolean;
  /** Sends counted today, this one included when allowed. */
  used: number;
  remaining: number;
}

/** Options of {@link SendLedger}. */
export interface SendLedgerOptions {
  /**
   * This host's clock, in epoch milliseconds; tests inject one. Default: `Date.now`. Leases on
   * PostgreSQL are measured on the database's clock instead (see {@link SendLedger.claim}).
   */
  now?: () => number;
}

/** The UTC calendar day of `moment`, e.g. `2024-05-01`: quotas reset at midnight UTC. */
export function utcDay(moment: Date): string {
  return moment.toISOString().slice(0, 10);
}

/** The sender's ledger over one open database, safe to share between processes. */
export class SendLedger {
  private readonly now: () => number;

  constructor(
    private readonly database: SqlClient,
    options: SendLedgerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Claims `emailId` for `owner` for `leaseMs` milliseconds, atomically across processes. A claim
   * by the owner that already holds the lease renews it; an expired or released claim is taken over.
   * The claim of a reply recorded {@link transmitted} is answered `transmitted`, else of one
   * recorded {@link transmitting} `transmitting`.
   */
  claim(emailId: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    return this.database.transaction(async (tx) => {
      const now = await this.leaseClock(tx);
      // The row exists before it is read and locked, so two hosts claiming a new email take turns;
      // a claim that does not take the email rolls nothing back but leaves no trace either.
      await tx.run(
        `INSERT INTO send_ledger (email_id, status, owner, lease_expires_ms, attempts) VALUES (?, 'released', NULL, 0, 0)
        ON CONFLICT (email_id) DO NOTHING`,
        [emailId],
      );
      const record = (await tx.get<SendRecord>(`SELECT * FROM send_ledger WHERE email_id = ?${forUpdate(tx)}`, [emailId])) as SendRecord;
      if (record.status === 'sent') return 'done';
      if (record.status === 'sending' && record.owner !== owner && record.lease_expires_ms > now) return 'held';
      const renewal = record.status === 'sending' && record.owner === owner;
      await tx.run(
        `UPDATE send_ledger SET status = 'sending', owner = ?, lease_expires_ms = ?, claimed_at = ?, attempts = attempts + ?
        WHERE email_id = ?`,
        [owner, now + leaseMs, new Date(now).toISOString(), renewal ? 0 : 1, emailId],
      );
      if (record.transmitted_at) return 'transmitted';
      return record.transmitting_at ? 'transmitting' : 'claimed';
    });
  }

  /**
   * The time leases are set and compared by. Senders of several hosts share one PostgreSQL: on
   * their own clocks, a host running a lease's length ahead would take a claim still held by a
   * live sender and send the reply a second time, so there the database's clock decides. SQLite
   * is shared only by the processes of one host, which have one clock.
   */
  private async leaseClock(tx: SqlClient): Promise<number> {
    if (tx.engine !== 'postgres') return this.now();
    const row = await tx.get<{ now_ms: number | string }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms');
    return Math.floor(Number(row!.now_ms));
  }

  /**
   * Records that the reply to `emailId` left (its SMTP transaction accepted) while its send is not
   * complete yet (the Sent copy still to be filed). From then on every claim is answered
   * `transmitted` until {@link complete}. Recorded whoever holds the claim: it is a fact about the reply.
   */
  async transmitted(emailId: string, messageId: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    await this.database.run(
      `INSERT INTO send_ledger (email_id, status, owner, lease_expires_ms, attempts, message_id, transmitted_at)
      VALUES (?, 'released', NULL, 0, 0, ?, ?)
      ON CONFLICT (email_id) DO UPDATE SET message_id = excluded.message_id,
        transmitted_at = COALESCE(send_ledger.transmitted_at, excluded.transmitted_at)
      WHERE send_ledger.status != 'sent'`,
      [emailId, messageId, at],
    );
  }

  /**
   * Records that a sender is about to begin the SMTP transaction of the reply to `emailId`: from then
   * on, until {@link transmissionFailed} or {@link complete}, every claim is answered `transmitting`.
   */
  async transmitting(emailId: string, messageId: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    await this.database.run(
      `INSERT INTO send_ledger (email_id, status, owner, lease_expires_ms, attempts, message_id, transmitting_at)
      VALUES (?, 'released', NULL, 0, 0, ?, ?)
      ON CONFLICT (email_id) DO UPDATE SET message_id = excluded.message_id, transmitting_at = excluded.transmitting_at
      WHERE send_ledger.status != 'sent'`,
      [emailId, messageId, at],
    );
  }

  /**
   * Withdraws {@link transmitting}: the SMTP transaction failed in a way that proves the reply did
   * not leave (the server refused it, or it never reached the message). A reply recorded
   * {@link transmitted} stays so.
   */
  async transmissionFailed(emailId: string): Promise<void> {
    await this.database.run(`UPDATE send_ledger SET transmitting_at = NULL WHERE email_id = ? AND transmitted_at IS NULL AND status != 'sent'`, [emailId]);
  }

  /**
   * Records a completed send. Later claims answer `done`. Completing without a claim is allowed:
   * a sender that found its reply already in the mailbox records that fact the same way.
   */
  async complete(emailId: string, result: { mode: string; message_id: string }): Promise<void> {
    await this.database.run(
      `INSERT INTO send_ledger (email_id, status, owner, lease_expires_ms, attempts, mode,
        message_id, completed_at)
      VALUES (?, 'sent', NULL, 0, 0, ?, ?, ?)
      ON CONFLICT (email_id) DO UPDATE SET status = 'sent', lease_expires_ms = 0, mode = excluded.mode,
        message_id = excluded.message_id, completed_at = excluded.completed_at`,
      [emailId, result.mode, result.message_id, new Date(this.now()).toISOString()],
    );
  }

  /**
   * Gives up a claim after a failure that happened before anything was sent, so a retry need not
   * wait for the lease to expire. Only the owner can release; a completed send stays completed.
   * @returns true when the claim was released.
   */
  async release(emailId: string, owner: string): Promise<boolean> {
    const result = await this.database.run(
      `UPDATE send_ledger SET status = 'released', owner = NULL, lease_expires_ms = 0
      WHERE email_id = ? AND owner = ? AND status = 'sending'`,
      [emailId, owner],
    );
    return result.changes > 0;
  }

  /** The ledger entry of one email, or undefined when it was never claimed. */
  get(emailId: string): Promise<SendRecord | undefined> {
    return this.database.get<SendRecord>('SELECT * FROM send_ledger WHERE email_id = ?', [emailId]);
  }

  /**
   * Counts one send against `agentEmail`'s quota for the UTC day of `now`, unless `limit` sends
   * were already counted that day. Atomic across processes.
   */
  async tryConsumeQuota(agentEmail: string, limit: number, now: Date = new Date(this.now())): Promise<QuotaResult> {
    const day = utcDay(now);
    // One statement counts the send only while under the limit: no read-then-write between hosts.
    const counted =
      limit > 0
        ? await this.database.get<{ used: number }>(
            `INSERT INTO send_quota (agent_email, day, used) VALUES (?, ?, 1)
            ON CONFLICT (agent_email, day) DO UPDATE SET used = send_quota.used + 1 WHERE send_quota.used < ?
            RETURNING used`,
            [agentEmail, day, limit],
          )
        : undefined;
    if (counted === undefined) return { allowed: false, used: await this.usedOn(agentEmail, day), remaining: 0 };
    return { allowed: true, used: counted.used, remaining: Math.max(limit - counted.used, 0) };
  }

  /**
   * Gives back one send counted today, for a send that failed after its quota was consumed.
   * @returns true when a send was given back.
   */
  async refundQuota(agentEmail: string, now: Date = new Date(this.now())): Promise<boolean> {
    const result = await this.database.run('UPDATE send_quota SET used = used - 1 WHERE agent_email = ? AND day = ? AND used > 0', [agentEmail, utcDay(now)]);
    return result.changes > 0;
  }

  /** Sends left today for `agentEmail` under `limit`, without consuming any. */
  async quotaRemaining(agentEmail: string, limit: number, now: Date = new Date(this.now())): Promise<number> {
    return Math.max(limit - (await this.usedOn(agentEmail, utcDay(now))), 0);
  }

  private async usedOn(agentEmail: string, day: string): Promise<number> {
    const row = await this.database.get<{ used: number }>('SELECT used FROM send_quota WHERE agent_email = ? AND day = ?', [agentEmail, day]);
    return row?.used ?? 0;
  }
}
