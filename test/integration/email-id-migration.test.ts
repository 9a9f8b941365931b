/**
 * Migration 8 (src/store/migrations.ts) on both engines: a database a release before per-mailbox
 * email ids wrote — its ids bare Message-IDs — comes out with every table keyed by the new id, so
 * an email answered before the upgrade is still answered `done`, also when its message is still in
 * a queue with the old id.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { emailIdOf, emailSchema } from '../../src/pipeline/messages.js';
import { createLocalClaims } from '../../src/providers/claims/local.js';
import { openDatabase, type SqlDatabase } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { PublishedEmails } from '../../src/store/published-emails.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { parseEmail } from '../../src/providers/mailbox/mime.js';
import { createTestPostgres } from '../helpers/postgres.js';

const ACME = 'support@acme.test';
/** The schema before the email id became per mailbox. */
const OLD_VERSION = 7;
const AT = "'2026-11-01T10:00:00.000Z'";
const AT_MS = 1_793_527_200_000;

/** An email answered before the upgrade, one awaiting review, and a ledger row no table names a mailbox for. */
const OLD_ROWS = `
  INSERT INTO events (event_id, timestamp, timestamp_ms, stage, email_id, agent_email, role, detail, recorded_at) VALUES
    ('ev-1', ${AT}, ${AT_MS}, 'received', 'answered@example.net', '${ACME}', 'poller', '{}', ${AT}),
    ('ev-2', ${AT}, ${AT_MS + 1}, 'sent', 'answered@example.net', '${ACME}', 'sender', '{}', ${AT}),
    ('ev-3', ${AT}, ${AT_MS + 2}, 'ingested', NULL, '${ACME}', 'ingester', '{}', ${AT});
  INSERT INTO emails (email_id, agent_email, state, state_rank, state_at_ms, first_seen_at, updated_at) VALUES
    ('answered@example.net', '${ACME}', 'sent', 5, ${AT_MS + 1}, ${AT}, ${AT});
  INSERT INTO published_emails (email_id, agent_email, published_at) VALUES ('answered@example.net', '${ACME}', ${AT});
  INSERT INTO send_ledger (email_id, status, mode, message_id, completed_at) VALUES
    ('answered@example.net', 'sent', 'auto', '<ragmail.0123@acme.test>', ${AT}),
    ('nobody-knows@example.net', 'sent', 'auto', '<ragmail.4567@acme.test>', ${AT}),
    ('review:in-review@example.net', 'sent', 'review', '<ragmail.89ab@acme.test>', ${AT});
  INSERT INTO email_contents (email_id, customer_body) VALUES
    ('answered@example.net', 'How do I reset it?'), ('in-review@example.net', 'Is it waterproof?');
  INSERT INTO reviews (email_id, agent_email, status, message, reply_body, created_at, updated_at) VALUES
    ('in-review@example.net', '${ACME}', 'pending', '{}', 'It is not.', ${AT}, ${AT});
`;

interface OldDatabase {
  location: string;
  cleanup(): Promise<void>;
}

/** Each engine's database at {@link OLD_VERSION}, holding {@link OLD_ROWS}, as the older release left it. */
const engines: Record<'sqlite' | 'postgres', () => Promise<OldDatabase>> = {
  sqlite: async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-migration-'));
    const location = path.join(directory, 'ragmail.db');
    const connection = new BetterSqlite3(location);
    for (const migration of MIGRATIONS.slice(0, OLD_VERSION)) connection.exec(migration.sqlite);
    connection.pragma(`user_version = ${OLD_VERSION}`);
    connection.exec(OLD_ROWS);
    connection.close();
    return { location, cleanup: async () => fs.rmSync(directory, { recursive: true, force: true }) };
  },
  postgres: async () => {
    const database = await createTestPostgres();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      for (const migration of MIGRATIONS.slice(0, OLD_VERSION)) await client.query(migration.postgres);
      await client.query(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (${OLD_VERSION})`);
      await client.query(OLD_ROWS);
    } finally {
      await client.end();
    }
    return { location: database.url, cleanup: database.drop };
  },
};

async function emailIdsOf(database: SqlDatabase, table: string): Promise<string[]> {
  const rows = await database.all<{ email_id: string | null }>(`SELECT email_id FROM ${table} ORDER BY email_id`);
  return rows.map((row) => row.email_id ?? 'NULL').sort();
}

for (const [engine, create] of Object.entries(engines)) {
  describe(`migration 8 on ${engine}`, () => {
    test('every table holding an email id is keyed by the per-mailbox id; an answered email still answers done', async () => {
      const old = await create();
      try {
        const database = await openDatabase(old.location);
        try {
          const answered = emailIdOf(ACME, 'answered@example.net');
          const inReview = emailIdOf(ACME, 'in-review@example.net');
          assert.deepEqual(await emailIdsOf(database, 'events'), ['NULL', answered, answered]);
          assert.deepEqual(await emailIdsOf(database, 'emails'), [answered]);
          assert.deepEqual(await emailIdsOf(database, 'published_emails'), [answered]);
          assert.deepEqual(await emailIdsOf(database, 'reviews'), [inReview]);
          assert.deepEqual(
            await emailIdsOf(database, 'email_contents'),
            [answered, inReview].sort(),
            'the texts take the mailbox of the summary or review row',
          );
          assert.deepEqual(
            await emailIdsOf(database, 'send_ledger'),
            [answered, 'nobody-knows@example.net', `review:${inReview}`].sort(),
            'a ledger row no table names a mailbox for keeps its id',
          );

          const ledger = new SendLedger(database);
          assert.deepEqual([(await ledger.get(answered))?.status, (await ledger.get(answered))?.message_id], ['sent', '<ragmail.0123@acme.test>']);
          assert.equal(await createLocalClaims(ledger).claim(answered, 'sender-after-upgrade', 60_000), 'done');
          assert.equal(await createLocalClaims(ledger).claim(`review:${inReview}`, 'sender-after-upgrade', 60_000), 'done', 'an approved reply sent before');
          assert.equal(await new PublishedEmails(database).has(answered), true, 'the poller does not publish it again');
          const activity = new ActivityLog(database);
          assert.equal((await activity.getEmail(answered))?.state, 'sent');
          assert.equal((await activity.timeline(answered)).length, 2, 'its whole timeline');

          // Its message, still in a queue with the id the older release gave it, is claimed under the new id.
          const { email } = await parseEmail(makeEmail({ messageId: '<answered@example.net>' }), { agentEmail: ACME, mailboxRef: 'cur/1' });
          const inFlight = emailSchema.parse({ ...email, email_id: 'answered@example.net' });
          assert.equal(inFlight.email_id, answered);
          assert.equal(await createLocalClaims(ledger).claim(inFlight.email_id, 'sender-after-upgrade', 60_000), 'done');
        } finally {
          await database.close();
        }
        // Opened again, nothing is rewritten twice.
        const again = await openDatabase(old.location);
        try {
          assert.deepEqual(await emailIdsOf(again, 'emails'), [emailIdOf(ACME, 'answered@example.net')]);
        } finally {
          await again.close();
        }
      } finally {
        await old.cleanup();
      }
    });
  });
}
