/**
 * `ragmail db-copy` moves a SQLite file's stores to PostgreSQL: a file filled through the real
 * stores is copied into a fresh database, and every store then reads the same there as on the file;
 * a second copy into the now non-empty database is refused, and a new event gets a sequence after
 * the copied ones.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openDatabase, type SqlClient, type SqlDatabase } from '../../src/store/database.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { PublishedEmails } from '../../src/store/published-emails.js';
import { ReviewQueue } from '../../src/store/reviews.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { statistics } from '../../src/store/statistics.js';
import { copyDatabase, TargetNotEmptyError } from '../../src/store/copy.js';
import { buildEvent } from '../../src/messaging/events.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { createTestPostgres, type TestPostgres } from '../helpers/postgres.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';

const run = promisify(execFile);
const ACME = 'support@acme.test';
const DAY = new Date('2024-05-01T12:00:00Z');
/** More than one insert batch (500 rows), so the batches' seams are copied too. */
const PUBLISHED = 1_201;

const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 9, minute)).toISOString();

function drafted(emailId: string): ToSendMessage {
  return {
    message_id: `m-${emailId}`,
    timestamp: at(0),
    original_message_id: null,
    email: {
      email_id: emailId,
      agent_email: ACME,
      from: 'c@customer.test',
      subject: 'Router',
      body: 'My router blinks red.',
      reply_recipient: 'c@customer.test',
    },
    classification: { is_support_inquiry: true, category: 'technical', confidence: 0.9, reasoning: 'r' },
    generated_response: { subject: 'Re: Router', body: 'Hold reset for ten seconds.' },
    context_used: [{ document_id: 'doc-1', source: 'x200.pdf', page: 4, similarity_score: 0.8 }],
  } as unknown as ToSendMessage;
}

/** Fills every store through its own code, as the workers would. */
async function fill(database: SqlDatabase): Promise<void> {
  const activity = new ActivityLog(database);
  const record = (stage: string, emailId: string | null, minute: number, detail: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    activity.record(buildEvent('test', { stage, email_id: emailId, agent_email: ACME, timestamp: at(minute), detail, ...extra } as never));
  await record('received', '<a@x>', 0, { from: 'Ann <ann@customer.test>', subject: 'Router RESET', received_at: at(0), priority: 5 });
  await record('classified', '<a@x>', 1, { is_support_inquiry: true, category: 'technical', confidence: 0.875, reasoning: 'r' });
  await record('retrieved', '<a@x>', 2, { top_score: 0.8, chunks: [{ source: 'x200.pdf', page: 4, score: 0.8 }] });
  await record('sent', '<a@x>', 3, { mode: 'auto', message_id: '<r-a@acme>', subject: 'Re: Router RESET', body: 'Hold reset for ten seconds.' });
  await record('drafted', '<b@x>', 4, { mode: 'review', message_id: '<d-b@acme>', reason: 'review mode', message: drafted('<b@x>') });
  await record('queued', null, 5, { filename: 'x200.pdf', path: '/uploads/doc-1/x200.pdf', bytes: 1000 }, { document_id: 'doc-1' });
  await record('ingested', null, 6, { filename: 'x200.pdf', pages: 2, chunks: 3 }, { document_id: 'doc-1' });

  assert.equal(await new ReviewQueue(database).open(drafted('<b@x>'), 'review mode', at(4)), true);

  const ledger = new SendLedger(database);
  assert.equal(await ledger.claim('<a@x>', 'host-a', 60_000), 'claimed');
  await ledger.complete('<a@x>', { mode: 'auto', message_id: '<r-a@acme>' });
  assert.equal(await ledger.claim('<c@x>', 'host-b', 600_000), 'claimed', 'a claim still held when the copy runs');
  for (let sent = 0; sent < 3; sent += 1) assert.equal((await ledger.tryConsumeQuota(ACME, 250, DAY)).allowed, true);

  const documents = new DocumentRegistry(database);
  await documents.register({ document_id: 'doc-1', agent_email: ACME, filename: 'x200.pdf', path: '/uploads/doc-1/x200.pdf' });
  assert.equal(await documents.markIngested('doc-1', { chunks: 3, pages: 2 }), true);

  const published = new PublishedEmails(database);
  for (let index = 0; index < PUBLISHED; index += 1) await published.add(`<p-${index}@x>`, ACME);

  // The recorder's own statement (src/roles/recorder.ts), which has no store of its own.
  await database.run('INSERT INTO stream_offsets (stream, next_offset) VALUES (?, ?)', ['events.audit', 4_294_967_296]);
}

/** What every store answers, read through the stores. */
async function readAll(database: SqlClient) {
  const activity = new ActivityLog(database);
  const ledger = new SendLedger(database);
  const published = new PublishedEmails(database);
  return {
    emails: await activity.listEmails({ limit: 500 }),
    timelines: [await activity.timeline('<a@x>'), await activity.timeline('<b@x>')],
    contents: [await activity.contents('<a@x>'), await activity.contents('<b@x>')],
    byState: await activity.countByState(ACME),
    mailboxes: await activity.mailboxes(),
    categories: await activity.categories(),
    reviews: await new ReviewQueue(database).list(),
    ledger: [await ledger.get('<a@x>'), await ledger.get('<c@x>')],
    quotaRemaining: await ledger.quotaRemaining(ACME, 250, DAY),
    documents: await new DocumentRegistry(database).list(),
    published: [await published.has('<p-0@x>'), await published.has(`<p-${PUBLISHED - 1}@x>`), await published.has('<never@x>')],
    offset: await database.get('SELECT next_offset FROM stream_offsets WHERE stream = ?', ['events.audit']),
    statistics: await statistics(database, { from: '2024-05-01', to: '2024-05-01', agentEmail: ACME }),
  };
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ragmail db-copy`; never throws on a non-zero exit. */
async function dbCopy(args: string[], environment: Record<string, string> = {}): Promise<Outcome> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: directory, LOG_LEVEL: 'error', ...environment };
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'db-copy', ...args], {
      cwd: PROJECT_ROOT,
      env,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout: string; stderr: string };
    return { code: failed.code ?? -1, stdout: failed.stdout, stderr: failed.stderr };
  }
}

let directory: string;
let file: string;
let postgres: TestPostgres;

before(async () => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-db-copy-'));
  file = path.join(directory, 'ragmail.db');
  postgres = await createTestPostgres();
  const sqlite = await openDatabase(file);
  try {
    await fill(sqlite);
  } finally {
    await sqlite.close();
  }
});

after(async () => {
  await postgres.drop();
  fs.rmSync(directory, { recursive: true, force: true });
});

test(
  'db-copy moves every store of a SQLite file to PostgreSQL, where each reads as it did; a second copy is refused; new events come after the copied ones',
  { timeout: 180_000 },
  async () => {
    const copied = await dbCopy(['--from', file, '--to', postgres.url]);
    assert.equal(copied.code, 0, copied.stderr);
    for (const [table, rows] of Object.entries({
      events: 7,
      emails: 2,
      reviews: 1,
      send_ledger: 2,
      send_quota: 1,
      documents: 1,
      published_emails: PUBLISHED,
      stream_offsets: 1,
      email_contents: 2,
    })) {
      assert.match(copied.stdout, new RegExp(`^${table} +${rows} +${rows}$`, 'm'), `${table}: ${rows} rows on both sides`);
    }
    assert.match(copied.stdout, /every count matches/);

    const sqlite = await openDatabase(file);
    const target = await openDatabase(postgres.url);
    try {
      const onSqlite = await readAll(sqlite);
      assert.equal(onSqlite.emails.length, 2, 'the file was filled');
      assert.deepEqual(await readAll(target), onSqlite);

      // From DATABASE_PATH and DATABASE_URL (the defaults), into what now holds the copy: refused, nothing merged.
      const again = await dbCopy([], { DATABASE_PATH: file, DATABASE_URL: postgres.url });
      assert.equal(again.code, 2, again.stdout);
      assert.match(again.stderr, /already holds data \(.*events.*\).*--replace/);
      await assert.rejects(copyDatabase(sqlite, target), TargetNotEmptyError);
      assert.deepEqual(await readAll(target), onSqlite, 'the refused copies changed nothing');

      const lastCopied = (await target.get<{ last: number }>('SELECT MAX(sequence) AS last FROM events'))!.last;
      assert.equal(
        await new ActivityLog(target).record(
          buildEvent('test', { stage: 'deleted', document_id: 'doc-1', agent_email: ACME, detail: { filename: 'x200.pdf', by: 'admin' } } as never),
        ),
        true,
      );
      const added = (await target.get<{ sequence: number }>("SELECT sequence FROM events WHERE stage = 'deleted'"))!.sequence;
      assert.equal(added, lastCopied + 1, 'the identity continues after the copied sequence numbers');

      // --replace starts over from the file: the event added on PostgreSQL is gone, the sequence restarts after the copy.
      await copyDatabase(sqlite, target, { replace: true });
      assert.deepEqual(await readAll(target), onSqlite);
      assert.equal((await target.get<{ count: number }>("SELECT COUNT(*) AS count FROM events WHERE stage = 'deleted'"))!.count, 0);
    } finally {
      await Promise.all([sqlite.close(), target.close()]);
    }
  },
);

test('db-copy refuses a missing source file instead of creating an empty one', async () => {
  const missing = path.join(directory, 'missing.db');
  const outcome = await dbCopy(['--from', missing, '--to', postgres.url]);
  assert.equal(outcome.code, 2);
  assert.match(outcome.stderr, /no such SQLite file/);
  assert.equal(fs.existsSync(missing), false);
});
