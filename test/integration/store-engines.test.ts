/**
 * The stores' contract on both engines: the SQLite file (the default) and a real PostgreSQL database
 * (DATABASE_URL). The same statements run on both; what must hold across hosts — the daily quota and
 * the send claims — is raced from two separate connections.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, SCHEMA_VERSION, type SqlDatabase } from '../../src/store/database.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { PublishedEmails } from '../../src/store/published-emails.js';
import { ReviewConflictError, ReviewQueue } from '../../src/store/reviews.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { StreamOffsets } from '../../src/store/stream-offsets.js';
import { statistics } from '../../src/store/statistics.js';
import { knowledgeGaps } from '../../src/features/knowledge-gaps.js';
import { buildEvent } from '../../src/messaging/events.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { createTestPostgres } from '../helpers/postgres.js';

const ACME = 'support@acme.test';

/** Where one engine's databases live: each `open()` is a new connection (a new process, as far as locking goes). */
interface Engine {
  name: 'sqlite' | 'postgres';
  location: string;
  cleanup(): Promise<void>;
}

const engines: Array<() => Promise<Engine>> = [
  async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-engines-'));
    return { name: 'sqlite', location: path.join(directory, 'ragmail.db'), cleanup: async () => fs.rmSync(directory, { recursive: true, force: true }) };
  },
  async () => {
    const database = await createTestPostgres();
    return { name: 'postgres', location: database.url, cleanup: database.drop };
  },
];

const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 9, minute)).toISOString();

function drafted(emailId: string): ToSendMessage {
  return {
    message_id: `m-${emailId}`,
    timestamp: at(0),
    original_message_id: null,
    email: { email_id: emailId, agent_email: ACME, from: 'c@customer.test', subject: 'Router', body: 'Help', reply_recipient: 'c@customer.test' },
    classification: { is_support_inquiry: true, category: 'technical', confidence: 0.9, reasoning: 'r' },
    generated_response: { subject: 'Re: Router', body: 'Hold reset.' },
    context_used: [],
  } as unknown as ToSendMessage;
}

for (const makeEngine of engines) {
  let engine: Engine;
  let database: SqlDatabase;
  const opened: SqlDatabase[] = [];
  /**
   * Another connection to the same database, as another host has. SQLite has one connection per
   * process (a second one in the same thread would wait for the first's write lock synchronously,
   * never letting it finish): there the same connection serves, and its queue is what is raced;
   * processes racing on one file are test/unit/send-ledger.test.ts's worker threads.
   */
  const connect = async () => {
    if (engine.name === 'sqlite' && opened.length > 0) return opened[0]!;
    const connection = await openDatabase(engine.location);
    opened.push(connection);
    return connection;
  };

  describe(`stores on ${makeEngine === engines[0] ? 'SQLite' : 'PostgreSQL'}`, () => {
    before(async () => {
      engine = await makeEngine();
      database = await connect();
    });
    after(async () => {
      for (const connection of opened) await connection.close();
      await engine.cleanup();
    });

    test('migrations: a second opening finds the schema current; a database of a newer release is refused', async () => {
      const again = await connect();
      assert.equal(again.engine, engine.name);
      const version =
        engine.name === 'sqlite'
          ? (await again.get<{ user_version: number }>('PRAGMA user_version'))?.user_version
          : (await again.get<{ version: number }>('SELECT version FROM schema_version'))?.version;
      assert.equal(version, SCHEMA_VERSION);
      const bump = engine.name === 'sqlite' ? `PRAGMA user_version = ${SCHEMA_VERSION + 1}` : `UPDATE schema_version SET version = ${SCHEMA_VERSION + 1}`;
      const undo = engine.name === 'sqlite' ? `PRAGMA user_version = ${SCHEMA_VERSION}` : `UPDATE schema_version SET version = ${SCHEMA_VERSION}`;
      await again.run(bump);
      try {
        await assert.rejects(openDatabase(engine.location), /newer than this release/);
      } finally {
        await again.run(undo);
      }
    });

    test('a transaction is rolled back when its work throws; a nested one only to its savepoint', async () => {
      const published = new PublishedEmails(database);
      await assert.rejects(
        database.transaction(async (tx) => {
          await new PublishedEmails(tx).add('<rolled-back@x>', ACME);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await published.has('<rolled-back@x>'), false);
      await database.transaction(async (tx) => {
        await new PublishedEmails(tx).add('<kept@x>', ACME);
        await assert.rejects(
          tx.transaction(async (inner) => {
            await new PublishedEmails(inner).add('<inner@x>', ACME);
            throw new Error('inner');
          }),
        );
      });
      assert.deepEqual([await published.has('<kept@x>'), await published.has('<inner@x>')], [true, false]);
    });

    test('20 concurrent sends against a quota of 5 from two connections: exactly 5 are allowed', async () => {
      const [first, second] = [new SendLedger(await connect()), new SendLedger(await connect())];
      const day = new Date('2024-05-01T12:00:00Z');
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? first : second).tryConsumeQuota(ACME, 5, day)));
      assert.equal(results.filter((result) => result.allowed).length, 5);
      assert.deepEqual(
        results
          .filter((result) => result.allowed)
          .map((result) => result.used)
          .sort(),
        [1, 2, 3, 4, 5],
      );
      assert.equal(await first.quotaRemaining(ACME, 5, day), 0);
      assert.equal(await second.refundQuota(ACME, day), true);
      assert.equal(await first.quotaRemaining(ACME, 5, day), 1);
    });

    test('a sender whose clock runs ten minutes ahead does not take a live claim of another host (PostgreSQL: leases on its clock)', async (t) => {
      if (engine.name === 'sqlite') {
        t.skip('SQLite is shared by the processes of one host only, which have one clock');
        return;
      }
      const onTime = new SendLedger(await connect());
      const ahead = new SendLedger(await connect(), { now: () => Date.now() + 600_000 });
      assert.equal(await onTime.claim('<skew@x>', 'host-a', 60_000), 'claimed');
      assert.equal(await ahead.claim('<skew@x>', 'host-b', 60_000), 'held', 'the lease is live on the shared clock');
      assert.equal(await ahead.claim('<skew-2@x>', 'host-b', 60_000), 'claimed');
      assert.equal(await onTime.claim('<skew-2@x>', 'host-a', 60_000), 'held', 'and the lease it sets is not ten minutes longer either');
    });

    test('two connections claiming one email at once: one is claimed, the other held; then done for both', async () => {
      const [first, second] = [new SendLedger(await connect()), new SendLedger(await connect())];
      for (let round = 0; round < 10; round += 1) {
        const emailId = `<race-${round}@x>`;
        const answers = await Promise.all([first.claim(emailId, 'host-a', 60_000), second.claim(emailId, 'host-b', 60_000)]);
        assert.deepEqual([...answers].sort(), ['claimed', 'held'], `round ${round}`);
        assert.equal((await first.get(emailId))?.attempts, 1);
      }
      await first.transmitted('<left@x>', '<reply@acme>');
      assert.equal(await second.claim('<left@x>', 'host-a', 60_000), 'transmitted', 'a reply that left is finished, never sent again');
      await second.complete('<left@x>', { mode: 'auto', message_id: '<reply@acme>' });
      assert.deepEqual(await Promise.all([first.claim('<left@x>', 'host-b', 60_000), second.claim('<left@x>', 'host-a', 60_000)]), ['done', 'done']);
      await first.transmitting('<began@x>', '<reply-b@acme>');
      assert.equal(await second.claim('<began@x>', 'host-a', 60_000), 'transmitting', 'a send that stopped inside SMTP is never sent blindly');
      assert.equal((await second.get('<began@x>'))?.message_id, '<reply-b@acme>');
      await second.transmissionFailed('<began@x>');
      assert.equal(await first.claim('<began@x>', 'host-b', 60_000), 'held', 'withdrawn: an ordinary claim again, still held by host-a');
      assert.equal(await second.claim('<began@x>', 'host-a', 60_000), 'claimed', 'withdrawn: sendable again');
      const record = await first.get('<race-1@x>');
      assert.equal(typeof record?.lease_expires_ms, 'number', 'BIGINT columns come back as numbers');
    });

    test('two reviewers deciding one review at once: one wins, the other gets a conflict', async () => {
      const [first, second] = [new ReviewQueue(await connect()), new ReviewQueue(await connect())];
      assert.equal(await first.open(drafted('<review@x>'), 'review mode', at(1)), true);
      const outcomes = await Promise.allSettled([
        first.decide('<review@x>', { action: 'approved', by: 'alice', at: at(2) }),
        second.decide('<review@x>', { action: 'rejected', by: 'bob', at: at(2) }),
      ]);
      assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
      const lost = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
      assert.ok(lost.reason instanceof ReviewConflictError);
      const decided = (await first.get('<review@x>'))!;
      assert.equal(decided.edited, false);
      assert.equal(await second.revertToPending(decided), true, 'the exact decision is undone (IS NOT DISTINCT FROM on NULLs too)');
      assert.equal(await first.count({ status: 'pending' }), 1);
    });

    test('a stream offset only moves forward: a late, lower one leaves it where it is', async () => {
      const offsets = new StreamOffsets(database);
      assert.equal(await offsets.next('events.audit'), undefined);
      await offsets.advance('events.audit', 10);
      await new StreamOffsets(await connect()).advance('events.audit', 5);
      assert.equal(await offsets.next('events.audit'), 10);
      await offsets.advance('events.audit', 11);
      assert.equal(await offsets.next('events.audit'), 11);
    });

    test('a session lock: one holder at a time on PostgreSQL, free again once released or its connection is cut; always granted on SQLite', async () => {
      const key = 4_242;
      const first = await database.tryLock(key);
      assert.ok(first);
      const other = await connect();
      if (engine.name === 'sqlite') {
        assert.ok(await other.tryLock(key), 'one file on one host: no one to exclude');
        await first.release();
        return;
      }
      assert.equal(await other.tryLock(key), null, 'held by the first connection');
      await first.release();
      const second = await other.tryLock(key);
      assert.ok(second, 'free once released');
      // The server ends the holder's session: the holder hears of it, and the lock is free.
      await database.run("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = ? AND granted", [key]);
      await second.lost;
      await second.release();
      // The backend lets go of its locks as it exits, a moment after its connection closed.
      let third = await database.tryLock(key);
      for (let attempt = 0; !third && attempt < 40; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        third = await database.tryLock(key);
      }
      assert.ok(third, 'free once its connection was cut (within 2 s)');
      await third.release();
    });

    test('activity log, documents and statistics read the same on this engine', async () => {
      const activity = new ActivityLog(database);
      const record = (stage: string, minute: number, detail: Record<string, unknown>, role = 'test') =>
        activity.record(buildEvent(role, { stage, email_id: '<a@x>', agent_email: ACME, timestamp: at(minute), detail } as never));
      assert.equal(await record('received', 0, { from: 'Ann <ann@customer.test>', subject: 'Router RESET', received_at: at(0), priority: 5 }), true);
      await record('classified', 1, { is_support_inquiry: true, category: 'technical', confidence: 0.875, reasoning: 'r' });
      await record('retrieved', 2, { top_score: 0.1, chunks: 2 });
      await record('replied', 3, { handoff: true, excerpt: 'A person will answer', citations: [{ source: 'x200.pdf', page: 4 }] });
      await record('handed_off', 4, { mode: 'auto', message_id: '<h@acme>', reason: 'retrieval score 0.1 below 0.3' }, 'sender');
      const summary = (await activity.getEmail('<a@x>'))!;
      assert.deepEqual([summary.state, summary.is_support_inquiry, summary.handoff, summary.confidence], ['handed_off', true, true, 0.875]);
      assert.deepEqual(summary.citations, [{ source: 'x200.pdf', page: 4 }]);
      assert.deepEqual(
        (await activity.listEmails({ search: 'router reset' })).map((email) => email.email_id),
        ['<a@x>'],
        'search ignores case on both engines',
      );
      assert.equal(await activity.countEmails({ search: '50%' }), 0, 'LIKE wildcards are text');
      assert.deepEqual(await activity.countByState(ACME), { handed_off: 1 });
      assert.equal((await activity.timeline('<a@x>')).length, 5);

      const documents = new DocumentRegistry(database);
      const registered = await documents.register({ document_id: 'doc-1', agent_email: ACME, filename: 'x200.pdf', path: '/uploads/doc-1/x200.pdf' });
      assert.equal(registered.status, 'queued');
      assert.equal(await documents.markIngested('doc-1', { chunks: 3, pages: 2 }), true);
      assert.deepEqual(
        (await documents.list(ACME)).map((document) => [document.status, document.chunks]),
        [['ingested', 3]],
      );

      const period = await statistics(database, { from: '2024-05-01', to: '2024-05-01', agentEmail: ACME });
      assert.equal(period.totals.handed_off, 1);
      assert.deepEqual(period.handoff_reasons, [{ reason: 'retrieval score below the threshold', count: 1 }]);
      const gaps = await knowledgeGaps(database, { fromIso: at(0), toIso: at(60), agentEmail: ACME, lowScore: 0.3 });
      assert.equal(gaps.questions, 1);
      assert.deepEqual(gaps.cited_pages, [{ source: 'x200.pdf', title: null, page: 4, count: 1 }]);
    });
  });
}

test('postgres: a transaction whose connection is cut (a restart, a failover) rejects; the process lives on and the next transaction works', async () => {
  const postgres = await createTestPostgres();
  const database = await openDatabase(postgres.url);
  try {
    await assert.rejects(
      database.transaction(async (tx) => {
        const { pid } = (await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!;
        await database.run('SELECT pg_terminate_backend(?)', [pid]);
        // The client hears of the cut as an 'error' event: unhandled, it would end this process.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await tx.run('SELECT 1');
      }),
    );
    const published = new PublishedEmails(database);
    await database.transaction(async (tx) => new PublishedEmails(tx).add('e-after', ACME));
    assert.equal(await published.has('e-after'), true, 'the pool serves the next transaction');
  } finally {
    await database.close();
    await postgres.drop();
  }
});
