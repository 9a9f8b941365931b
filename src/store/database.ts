/**
 * The SQLite file shared by the activity log, the document registry and the sender's ledger.
 * Several worker processes open the same file at once, so it runs in WAL mode with a busy timeout,
 * and every write that reads before it writes uses `BEGIN IMMEDIATE` (see {@link immediate}).
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** An open better-sqlite3 connection. */
export type Database = BetterSqlite3.Database;

/** How long a connection waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * The schema history, oldest first. Entry `n` (1-based) moves `PRAGMA user_version` from `n - 1`
 * to `n`. Append new entries; never edit one that has shipped, since files in the field already
 * recorded it as applied. Statements are `IF NOT EXISTS` as well, so a half-known file heals.
 */
const MIGRATIONS: readonly string[] = [
  // 1: activity log — every event, and one summary row per email.
  `
  CREATE TABLE IF NOT EXISTS events (
    sequence      INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    timestamp     TEXT NOT NULL,
    timestamp_ms  INTEGER NOT NULL,
    stage         TEXT NOT NULL,
    email_id      TEXT,
    document_id   TEXT,
    agent_email   TEXT,
    role          TEXT NOT NULL,
    duration_ms   REAL,
    provider      TEXT,
    model         TEXT,
    detail        TEXT NOT NULL DEFAULT '{}',
    recorded_at   TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS events_by_email ON events (email_id, timestamp_ms);
  CREATE INDEX IF NOT EXISTS events_by_document ON events (document_id, timestamp_ms);

  CREATE TABLE IF NOT EXISTS emails (
    email_id            TEXT PRIMARY KEY,
    agent_email         TEXT,
    from_address        TEXT,
    subject             TEXT,
    received_at         TEXT,
    priority            INTEGER,
    state               TEXT NOT NULL,
    state_rank          INTEGER NOT NULL,
    state_at_ms         INTEGER NOT NULL,
    is_support_inquiry  INTEGER,
    category            TEXT,
    confidence          REAL,
    reasoning           TEXT,
    top_score           REAL,
    chunk_count         INTEGER,
    handoff             INTEGER,
    reply_excerpt       TEXT,
    citations           TEXT,
    send_mode           TEXT,
    sent_message_id     TEXT,
    outcome             TEXT,
    error_message       TEXT,
    error_type          TEXT,
    stages              TEXT NOT NULL DEFAULT '{}',
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS emails_by_agent ON emails (agent_email, state);
  CREATE INDEX IF NOT EXISTS emails_by_state ON emails (state);
  `,
  // 2: document registry.
  `
  CREATE TABLE IF NOT EXISTS documents (
    document_id  TEXT PRIMARY KEY,
    agent_email  TEXT NOT NULL,
    filename     TEXT NOT NULL,
    path         TEXT NOT NULL,
    status       TEXT NOT NULL,
    pages_total  INTEGER,
    pages_done   INTEGER NOT NULL DEFAULT 0,
    chunks       INTEGER,
    error        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS documents_by_agent ON documents (agent_email);
  `,
  // 3: sender's ledger and daily quota.
  `
  CREATE TABLE IF NOT EXISTS send_ledger (
    email_id          TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    owner             TEXT,
    lease_expires_ms  INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    mode              TEXT,
    message_id        TEXT,
    claimed_at        TEXT,
    completed_at      TEXT
  );
  CREATE TABLE IF NOT EXISTS send_quota (
    agent_email  TEXT NOT NULL,
    day          TEXT NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_email, day)
  );
  `,
  // 4: review queue of drafted replies (draft / review mode, hand-offs).
  `
  CREATE TABLE IF NOT EXISTS reviews (
    email_id     TEXT PRIMARY KEY,
    agent_email  TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    message      TEXT NOT NULL,
    reply_body   TEXT NOT NULL,
    edited       INTEGER NOT NULL DEFAULT 0,
    decided_by   TEXT,
    decided_at   TEXT,
    note         TEXT,
    sent_at      TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS reviews_by_status ON reviews (status, agent_email, created_at);
  `,
  // 5: the poller's published emails and the recorder's stream offset, created by those roles
  // themselves until now (hence IF NOT EXISTS: files in the field already have them).
  `
  CREATE TABLE IF NOT EXISTS published_emails (
    email_id TEXT PRIMARY KEY,
    agent_email TEXT NOT NULL,
    published_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS stream_offsets (stream TEXT PRIMARY KEY, next_offset INTEGER NOT NULL);
  `,
  // 6: what the conversation view shows in full: the customer's text (from the poller's `received`)
  // and the reply as sent or drafted (from the sender's events), kept apart from the summary rows
  // so listing emails never reads bodies (src/store/email-contents.ts).
  `
  CREATE TABLE IF NOT EXISTS email_contents (
    email_id        TEXT PRIMARY KEY,
    customer_body   TEXT,
    reply_subject   TEXT,
    reply_body      TEXT,
    reply_source    TEXT,
    reply_rank      INTEGER NOT NULL DEFAULT 0,
    reply_at_ms     INTEGER NOT NULL DEFAULT 0,
    passages        TEXT
  );
  `,
  // 7: the moment a reply left (its SMTP transaction accepted) before its send was complete, so a
  // sender taking over finishes that send instead of sending the reply again (src/store/send-ledger.ts).
  `
  ALTER TABLE send_ledger ADD COLUMN transmitted_at TEXT;
  `,
];

/** Compiled statements per open database, by SQL text. */
const statements = new WeakMap<Database, Map<string, BetterSqlite3.Statement>>();

/**
 * The compiled statement of `sql` on `database`, compiled once: the stores run the same few
 * statements for every event and email, and compiling them each time cost the recorder a third
 * of its CPU (BENCHMARKS.md).
 */
export function prepared(database: Database, sql: string): BetterSqlite3.Statement {
  let cache = statements.get(database);
  if (cache === undefined) {
    cache = new Map();
    statements.set(database, cache);
  }
  let statement = cache.get(sql);
  if (statement === undefined) {
    statement = database.prepare(sql);
    cache.set(sql, statement);
  }
  return statement;
}

/** The schema version this code writes: the length of the migration list. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Runs `work` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two
 * processes that both read-then-write never deadlock on a lock upgrade (the loser waits up to
 * the busy timeout instead of failing at once).
 */
export function immediate<Result>(database: Database, work: () => Result): Result {
  return database.transaction(work).immediate();
}

/** Applies every migration newer than the file's `user_version`, each in its own transaction. */
export function migrate(database: Database): void {
  immediate(database, () => {
    const current = Number(database.pragma('user_version', { simple: true }));
    if (current > SCHEMA_VERSION) {
      // A newer release wrote this file; running older code against it could corrupt it.
      throw new Error(`database schema version ${current} is newer than this release understands (${SCHEMA_VERSION})`);
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version += 1) {
      database.exec(MIGRATIONS[version - 1]);
      database.pragma(`user_version = ${version}`);
    }
  });
}

/**
 * Opens (creating when needed) the SQLite file at `filePath` and brings its schema up to date.
 * `:memory:` gives a private in-memory database, for tests.
 */
export function openDatabase(filePath: string): Database {
  const inMemory = filePath === ':memory:' || filePath === '';
  if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true });
  const database = new BetterSqlite3(filePath);
  try {
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL lets readers (dashboard) run while a worker writes; NORMAL sync is durable in WAL mode
    // except for the last transactions on power loss, which at-least-once delivery tolerates.
    if (!inMemory) database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    migrate(database);
    return database;
  } catch (error) {
    database.close();
    throw error;
  }
}
