/**
 * The recorder on PostgreSQL while the connections it records through are cut again and again (a
 * restart, a failover, an administrator): an event whose transaction fails that way waits and is
 * recorded, never skipped — a skipped event would be lost for good once the next one moved the
 * stored offset past it. The connection holding the recorder lock is left alone, so the same
 * recorder projects throughout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Broker } from '../../src/messaging/broker.js';
import { publishEvent } from '../../src/messaging/events.js';
import { startRecorder } from '../../src/roles/recorder.js';
import { openDatabase } from '../../src/store/database.js';
import { createLogger } from '../../src/lib/log.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { createTestPostgres } from '../helpers/postgres.js';

const EVENTS = 300;

test('events whose database connection is cut mid-transaction are recorded once it is back, none skipped', { timeout: 120_000 }, async () => {
  const postgres = await createTestPostgres();
  const vhost = await createTestVhost();
  const database = await openDatabase(postgres.url);
  const logger = createLogger({ level: 'error', format: 'json', role: 'recorder' });
  const broker = new Broker(vhost.config, vhost.logger);
  const admin = new pg.Client({ connectionString: postgres.url });
  const databaseName = new URL(postgres.url).pathname.slice(1);
  let cutting = true;
  let cuts = 0;
  try {
    await broker.start();
    await admin.connect();
    const recorder = startRecorder({ broker, database, logger, start: 'first', takeoverIntervalMs: 200 });
    await waitFor(() => recorder.projecting, { timeoutMs: 30_000, what: 'the recorder projecting' });
    // Every 30 ms, every connection of the recorder but the one holding its lock.
    const cutter = (async () => {
      while (cutting) {
        const result = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = $1 AND pid <> pg_backend_pid()
             AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`,
          [databaseName],
        );
        cuts += result.rowCount ?? 0;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    const published: string[] = [];
    for (let index = 0; index < EVENTS; index += 1) {
      const eventId = randomUUID();
      await publishEvent(broker, 'responder', {
        event_id: eventId,
        stage: 'retrieved',
        email_id: `email-${index}`,
        agent_email: 'support@acme.test',
        detail: { top_score: 0.5, chunks: [] },
      });
      published.push(eventId);
      if (index % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitFor(() => cuts >= 5, { timeoutMs: 30_000, what: 'connections cut' });
    cutting = false;
    await cutter;
    const recorded = async () => (await admin.query<{ total: string }>('SELECT COUNT(*) AS total FROM events')).rows[0]!.total;
    await waitFor(async () => Number(await recorded()) === EVENTS, { timeoutMs: 60_000, what: `${EVENTS} events recorded (cut ${cuts} connections)` });
    const rows = await admin.query<{ event_id: string }>('SELECT event_id FROM events');
    assert.deepEqual(rows.rows.map((row) => row.event_id).sort(), [...published].sort());
    assert.ok(recorder.projecting, 'the same recorder projects throughout');
    await recorder.stop();
  } finally {
    cutting = false;
    await admin.end().catch(() => undefined);
    await broker.close();
    await database.close();
    await vhost.cleanup();
    await postgres.drop();
  }
});
