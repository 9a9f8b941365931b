/**
 * Reads what the recorder wrote to the SQLite activity log: how many benchmark emails reached a
 * final state, and the event timestamps that throughput and latency are computed from. The
 * timestamps are stamped by the role that emitted each event, not by the recorder, so a recorder
 * that lags behind does not change the figures.
 */
import BetterSqlite3 from 'better-sqlite3';
import { FINAL_STATES } from '../../src/store/activity-log.js';
import { BUSY_TIMEOUT_MS } from '../../src/store/sqlite-engine.js';

/** States in which an email got a reply file (outbox or drafts) after passing all three queues. */
export const REPLIED_STATES = ['sent', 'drafted', 'handed_off'] as const;

/** One email's passage: from the poller's `received` event to its final event. */
export interface EmailPassage {
  emailId: string;
  state: string;
  receivedMs: number;
  finalMs: number;
}

/** A read-only view of the activity log of one data folder. */
export class ActivityReader {
  private readonly database: BetterSqlite3.Database;

  constructor(databasePath: string) {
    this.database = new BetterSqlite3(databasePath, { fileMustExist: true });
    this.database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }

  /** Emails whose id starts with `prefix`, counted by state. */
  statesOf(prefix: string): Record<string, number> {
    const rows = this.database.prepare('SELECT state, COUNT(*) AS total FROM emails WHERE email_id LIKE ? GROUP BY state').all(`${prefix}%`) as Array<{
      state: string;
      total: number;
    }>;
    return Object.fromEntries(rows.map((row) => [row.state, row.total]));
  }

  /** How many emails of `prefix` reached a final state. */
  finishedCount(prefix: string): number {
    const states = this.statesOf(prefix);
    return FINAL_STATES.reduce((total, state) => total + (states[state] ?? 0), 0);
  }

  /** Received and final timestamps of every finished email of `prefix`. */
  passages(prefix: string): EmailPassage[] {
    const rows = this.database
      .prepare(
        `SELECT e.email_id AS emailId, e.state AS state,
        (SELECT MIN(timestamp_ms) FROM events WHERE email_id = e.email_id AND stage = 'received') AS receivedMs,
        (SELECT MAX(timestamp_ms) FROM events WHERE email_id = e.email_id AND stage = e.state) AS finalMs
      FROM emails e WHERE e.email_id LIKE ?`,
      )
      .all(`${prefix}%`) as EmailPassage[];
    return rows.filter((row) => (FINAL_STATES as readonly string[]).includes(row.state) && row.receivedMs !== null && row.finalMs !== null);
  }

  /** Longest wait between an event being stamped and recorded, in ms, for `prefix`. */
  recorderLagMs(prefix: string): number {
    const row = this.database
      .prepare(
        `SELECT MAX((julianday(recorded_at) - 2440587.5) * 86400000.0 - timestamp_ms) AS lag
      FROM events WHERE email_id LIKE ?`,
      )
      .get(`${prefix}%`) as { lag: number | null };
    return row.lag ?? 0;
  }

  /** `duration_ms` of every `stage` event of the emails of `prefix`. */
  stageDurations(prefix: string, stage: string): number[] {
    return (
      this.database
        .prepare('SELECT duration_ms FROM events WHERE email_id LIKE ? AND stage = ? AND duration_ms IS NOT NULL')
        .all(`${prefix}%`, stage) as Array<{ duration_ms: number }>
    ).map((row) => row.duration_ms);
  }

  close(): void {
    this.database.close();
  }
}

/** Polls `check` every `intervalMs` until true; fails when `what` made no progress for `stallMs`. */
export async function waitUntil(check: () => { done: boolean; progress: number }, what: string, stallMs = 60_000, intervalMs = 200): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const { done, progress } = check();
    if (done) return;
    if (progress !== last) {
      last = progress;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) {
      throw new Error(`${what}: no progress for ${stallMs / 1000} s (at ${progress})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
