/**
 * Send claims in the sender's ledger: exclusive among every process that shares its database — the
 * SQLite file of one host, or a PostgreSQL database every host shares. The embedded default, and
 * the fallback of the Redis claims.
 */
import type { SendLedger } from '../../store/send-ledger.js';
import type { SendClaimResult, SendClaims, SendCompletion } from './spec.js';

/** Send claims backed by the sender's ledger. */
export function createLocalClaims(ledger: SendLedger): SendClaims {
  return {
    provider: 'local',
    async claim(emailId: string, owner: string, leaseMs: number): Promise<SendClaimResult> {
      return ledger.claim(emailId, owner, leaseMs);
    },
    async complete(emailId: string, result: SendCompletion): Promise<void> {
      await ledger.complete(emailId, result);
    },
    async transmitted(emailId: string, messageId: string): Promise<void> {
      await ledger.transmitted(emailId, messageId);
    },
    async transmitting(emailId: string, messageId: string): Promise<void> {
      await ledger.transmitting(emailId, messageId);
    },
    async transmissionFailed(emailId: string): Promise<void> {
      await ledger.transmissionFailed(emailId);
    },
    async release(emailId: string, owner: string): Promise<boolean> {
      return ledger.release(emailId, owner);
    },
    async holder(emailId: string): Promise<string | undefined> {
      const record = await ledger.get(emailId);
      return record?.status === 'sending' ? (record.owner ?? undefined) : undefined;
    },
    // The ledger's database belongs to whoever opened it.
    async close(): Promise<void> {},
  };
}
