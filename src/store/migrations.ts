/**
 * The schema history, oldest first, for both engines. Entry `n` (1-based) moves the schema from
 * version `n - 1` to `n`: SQLite records it in `PRAGMA user_version`, PostgreSQL in the
 * `schema_version` table. Append new entries; never edit one that has shipped, since files in the
 * field already recorded it as applied. Statements are `IF NOT EXISTS` as well, so a half-known
 * database heals.
 *
 * PostgreSQL's texts differ in types only: epoch-millisecond columns are BIGINT (its INTEGER has 32
 * bits), REAL is DOUBLE PRECISION (its REAL has 24 bits of mantissa), AUTOINCREMENT is an identity.
 */

/** One step of the schema, in each engine's dialect. */
export interface Migration {
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  // 1: activity log — every event, and one summary row per email.
  {
    sqlite: `
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
    postgres: `
  CREATE TABLE IF NOT EXISTS events (
    sequence      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    timestamp     TEXT NOT NULL,
    timestamp_ms  BIGINT NOT NULL,
    stage         TEXT NOT NULL,
    email_id      TEXT,
    document_id   TEXT,
    agent_email   TEXT,
    role          TEXT NOT NULL,
    duration_ms   DOUBLE PRECISION,
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
    state_at_ms         BIGINT NOT NULL,
    is_support_inquiry  INTEGER,
    category            TEXT,
    confidence          DOUBLE PRECISION,
    reasoning           TEXT,
    top_score           DOUBLE PRECISION,
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
  },
  // 2: document registry.
  {
    sqlite: `
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
    postgres: `
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
  },
  // 3: sender's ledger and daily quota.
  {
    sqlite: `
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
    postgres: `
  CREATE TABLE IF NOT EXISTS send_ledger (
    email_id          TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    owner             TEXT,
    lease_expires_ms  BIGINT NOT NULL DEFAULT 0,
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
  },
  // 4: review queue of drafted replies (draft / review mode, hand-offs).
  {
    sqlite: `
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
    postgres: `
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
  },
  // 5: the poller's published emails and the recorder's stream offset, created by those roles
  // themselves until now (hence IF NOT EXISTS: files in the field already have them).
  {
    sqlite: `
  CREATE TABLE IF NOT EXISTS published_emails (
    email_id TEXT PRIMARY KEY,
    agent_email TEXT NOT NULL,
    published_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS stream_offsets (stream TEXT PRIMARY KEY, next_offset INTEGER NOT NULL);
  `,
    postgres: `
  CREATE TABLE IF NOT EXISTS published_emails (
    email_id TEXT PRIMARY KEY,
    agent_email TEXT NOT NULL,
    published_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS stream_offsets (stream TEXT PRIMARY KEY, next_offset BIGINT NOT NULL);
  `,
  },
  // 6: what the conversation view shows in full: the customer's text (from the poller's `received`)
  // and the reply as sent or drafted (from the sender's events), kept apart from the summary rows
  // so listing emails never reads bodies (src/store/email-contents.ts).
  {
    sqlite: `
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
    postgres: `
  CREATE TABLE IF NOT EXISTS email_contents (
    email_id        TEXT PRIMARY KEY,
    customer_body   TEXT,
    reply_subject   TEXT,
    reply_body      TEXT,
    reply_source    TEXT,
    reply_rank      INTEGER NOT NULL DEFAULT 0,
    reply_at_ms     BIGINT NOT NULL DEFAULT 0,
    passages        TEXT
  );
  `,
  },
  // 7: the moment a reply left (its SMTP transaction accepted) before its send was complete, so a
  // sender taking over finishes that send instead of sending the reply again (src/store/send-ledger.ts).
  {
    sqlite: `
  ALTER TABLE send_ledger ADD COLUMN transmitted_at TEXT;
  `,
    postgres: `
  ALTER TABLE send_ledger ADD COLUMN IF NOT EXISTS transmitted_at TEXT;
  `,
  },
  // 8: the email id becomes per mailbox (issue 13), in every table that holds one.
  {
    sqlite: perMailboxEmailIds((mailbox, key) => `ragmail_email_id(${mailbox}, ${key})`),
    postgres: perMailboxEmailIds(
      (mailbox, key) =>
        `translate(substr(encode(sha256(convert_to(${mailbox} || ' ' || ${key}, 'UTF8')), 'hex'), 1, 32), '0123456789abcdef', 'abcdefghijklmnop')`,
    ),
  },
  // 9: the moment a sender began a reply's SMTP transaction, so a sender taking over a send that
  // may have left hands it to review instead of sending it blindly (src/store/send-ledger.ts).
  {
    sqlite: `
  ALTER TABLE send_ledger ADD COLUMN transmitting_at TEXT;
  `,
    postgres: `
  ALTER TABLE send_ledger ADD COLUMN IF NOT EXISTS transmitting_at TEXT;
  `,
  },
];

/**
 * Migration 8: every email id becomes `emailIdOf(mailbox, old id)` (src/pipeline/messages.ts), so an
 * email answered before the upgrade is found answered after it. `emailId` is the dialect's
 * expression of it: PostgreSQL's from its sha256(), SQLite's a function its engine gives the
 * connection (src/store/sqlite-engine.ts). The ledger (with its `review:<email_id>` claims of
 * approved replies) and the texts have no mailbox column: they take the mailbox of the email's
 * summary row, else of its published or review row, so they run before those are rewritten; a row
 * found in none keeps its old id, which no new email carries (the Sent-folder check still knows
 * its reply). Events take the summary row's mailbox before their own, so an email's timeline
 * stays whole.
 */
function perMailboxEmailIds(emailId: (mailbox: string, key: string) => string): string {
  const mailboxOf = (id: string) =>
    `COALESCE((SELECT e.agent_email FROM emails e WHERE e.email_id = ${id}),` +
    ` (SELECT p.agent_email FROM published_emails p WHERE p.email_id = ${id}),` +
    ` (SELECT r.agent_email FROM reviews r WHERE r.email_id = ${id}))`;
  // The sender claims an approved reply as `review:<email_id>` (src/roles/sender.ts).
  const approved = 'substr(send_ledger.email_id, 8)';
  const eventMailbox = 'COALESCE((SELECT e.agent_email FROM emails e WHERE e.email_id = events.email_id), agent_email)';
  return [
    `UPDATE send_ledger SET email_id = 'review:' || ${emailId(mailboxOf(approved), approved)}
      WHERE email_id LIKE 'review:%' AND ${mailboxOf(approved)} IS NOT NULL;`,
    ...['send_ledger', 'email_contents'].map(
      (table) => `UPDATE ${table} SET email_id = ${emailId(mailboxOf(`${table}.email_id`), 'email_id')} WHERE ${mailboxOf(`${table}.email_id`)} IS NOT NULL;`,
    ),
    `UPDATE events SET email_id = ${emailId(eventMailbox, 'email_id')} WHERE email_id IS NOT NULL AND ${eventMailbox} IS NOT NULL;`,
    ...['reviews', 'published_emails', 'emails'].map(
      (table) => `UPDATE ${table} SET email_id = ${emailId('agent_email', 'email_id')} WHERE agent_email IS NOT NULL;`,
    ),
  ].join('\n');
}

/** The schema version this code writes: the length of the migration list. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Refuses a database a newer release wrote: running older code against it could corrupt it. */
export function assertKnownVersion(current: number): void {
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this release understands (${SCHEMA_VERSION})`);
  }
}
