/**
 * Reads what the recorder wrote to the activity log (the SQLite file, or PostgreSQL with
 * DATABASE_URL), through the stores' SQL layer: how many benchmark emails reached a final state, and
 * the event timestamps that throughput and latency are computed from. The timestamps are stamped by
 * the role that emitted each event, not by the recorder, so a recorder that lags behind does not
 * change the figures.
 */
import { FINAL_STATES } from '../../src/store/activity-log.js';
import { openDatabase, type SqlDatabase } from '../../src/store/database.js';

/** States in which an email got a reply file (outbox or drafts) after passing all three queues. */
export const REPLIED_STATES = ['sent', 'drafted', 'handed_off'] as const;

/** One email's passage: from the poller's `received` event to its final event. */
export interface EmailPassage {
  emailId: string;
  state: string;
  receivedMs: number;
  finalMs: number;
}

/** A reading view of the activity log the workers write (another process's connection). */
export class ActivityReader {
  private constructor(private readonly database: SqlDatabase) {}

  /** Opens the activity log at `location`: a SQLite file path or a `postgres://` URL, as `openDatabase` takes. */
  static async open(location: string): Promise<ActivityReader> {
    return new ActivityReader(await openDatabase(location));
  }

  /** The emails `ids`, counted by state. */
  async statesOf(ids: readonly string[]): Promise<Record<string, number>> {
    const rows = await this.database.all<{ state: string; total: number }>(
      `SELECT state, COUNT(*) AS total FROM emails WHERE email_id IN (${marks(ids)}) GROUP BY state`,
      [...ids],
    );
    return Object.fromEntries(rows.map((row) => [row.state, Number(row.total)]));
  }

  /** How many of the emails `ids` reached a final state. */
  async finishedCount(ids: readonly string[]): Promise<number> {
    const states = await this.statesOf(ids);
    return FINAL_STATES.reduce((total, state) => total + (states[state] ?? 0), 0);
  }

  /** Received and final timestamps of every finished email of `ids`. */
  async passages(ids: readonly string[]): Promise<EmailPassage[]> {
    const rows = await this.database.all<EmailPassage>(
      `SELECT e.email_id AS "emailId", e.state AS state,
        (SELECT MIN(timestamp_ms) FROM events WHERE email_id = e.email_id AND stage = 'received') AS "receivedMs",
        (SELECT MAX(timestamp_ms) FROM events WHERE email_id = e.email_id AND stage = e.state) AS "finalMs"
      FROM emails e WHERE e.email_id IN (${marks(ids)})`,
      [...ids],
    );
    return rows.filter((row) => (FINAL_STATES as readonly string[]).includes(row.state) && row.receivedMs !== null && row.finalMs !== null);
  }

  /** Longest wait between an event being stamped and recorded, in ms, for the emails `ids`. */
  async recorderLagMs(ids: readonly string[]): Promise<number> {
    // Counted here: the two engines share no function that reads an ISO timestamp.
    const rows = await this.database.all<{ recorded_at: string; timestamp_ms: number }>(
      `SELECT recorded_at, timestamp_ms FROM events WHERE email_id IN (${marks(ids)})`,
      [...ids],
    );
    return rows.reduce((longest, row) => Math.max(longest, Date.parse(row.recorded_at) - row.timestamp_ms), 0);
  }

  /** `duration_ms` of every `stage` event of the emails `ids`. */
  async stageDurations(ids: readonly string[], stage: string): Promise<number[]> {
    const rows = await this.database.all<{ duration_ms: number }>(
      `SELECT duration_ms FROM events WHERE email_id IN (${marks(ids)}) AND stage = ? AND duration_ms IS NOT NULL`,
      [...ids, stage],
    );
    return rows.map((row) => row.duration_ms);
  }

  close(): Promise<void> {
    return this.database.close();
  }
}

/** One `?` per id (a benchmark run holds at most a few thousand: within both engines' parameter limits). */
function marks(ids: readonly string[]): string {
  return ids.length === 0 ? 'NULL' : ids.map(() => '?').join(', ');
}

/** Polls `check` every `intervalMs` until true; fails when `what` made no progress for `stallMs`. */
export async function waitUntil(check: () => Promise<{ done: boolean; progress: number }>, what: string, stallMs = 60_000, intervalMs = 200): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const { done, progress } = await check();
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
