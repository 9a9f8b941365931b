/**
 * Two recorder processes on one PostgreSQL database and the real RabbitMQ: one projects the audit
 * stream, the other stands by. The active one is SIGKILLed mid-stream, then (restarted as a
 * standby) the new holder's lock connection is cut on the server: each time the other takes over,
 * and every published event is recorded, none lost, the stored offset at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Broker } from '../../src/messaging/broker.js';
import { publishEvent } from '../../src/messaging/events.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { RECORDER_LOCK } from '../../src/roles/recorder.js';
import { openDatabase } from '../../src/store/database.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { createTestPostgres } from '../helpers/postgres.js';
import { WorkerFleet, type FleetProcess } from '../helpers/worker-fleet.js';
import { workerEnvironment } from '../helpers/worker-process.js';

const EVENTS_PER_BATCH = 150;

test(
  'of two recorders on one PostgreSQL database one projects; killed or cut off, the other takes over, every event recorded once',
  { timeout: 180_000 },
  async () => {
    const postgres = await createTestPostgres();
    const vhost = await createTestVhost();
    // Opened (and migrated) first, so both recorders find the schema in place.
    const database = await openDatabase(postgres.url);
    const fleet = new WorkerFleet({
      ...workerEnvironment(vhost.config),
      DATABASE_URL: postgres.url,
      RECORDER_TAKEOVER_INTERVAL_MS: '200',
      AUDIT_STREAM_START: 'first',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      METRICS_PORT: '0',
    });
    const broker = new Broker(vhost.config, vhost.logger);
    const published: string[] = [];
    const publishBatch = async () => {
      for (let index = 0; index < EVENTS_PER_BATCH; index += 1) {
        const eventId = randomUUID();
        await publishEvent(broker, 'responder', {
          event_id: eventId,
          stage: 'retrieved',
          email_id: `email-${randomUUID()}`,
          agent_email: 'support@acme.test',
          detail: { top_score: 0.5, chunks: [] },
        });
        published.push(eventId);
      }
    };
    const said = (worker: FleetProcess, pattern: RegExp) =>
      waitFor(() => pattern.test(worker.output), { timeoutMs: 60_000, what: `${pattern} from ${worker.pid}\n${fleet.describe()}` });
    const recorded = async () => (await database.get<{ total: number }>('SELECT COUNT(*) AS total FROM events'))!.total;
    try {
      await broker.start();
      const first = fleet.start('recorder');
      await said(first, /"projecting the audit stream"/);
      const second = fleet.start('recorder');
      await said(second, /standing by: another recorder projects/);
      // A standby is ready, and says on /metrics which of the two projects.
      for (const [worker, projecting] of [
        [first, 1],
        [second, 0],
      ] as const) {
        const url = /"message":"metrics and health endpoints listening".*?"url":"([^"]+)"/.exec(worker.output)?.[1];
        assert.ok(url, worker.output);
        assert.equal((await fetch(`${url}/readyz`)).status, 200);
        assert.match(await (await fetch(`${url}/metrics`)).text(), new RegExp(`^ragmail_recorder_projecting ${projecting}$`, 'm'));
      }

      // The active recorder dies (SIGKILL) while it reads the stream; PostgreSQL releases its lock with its connection.
      await publishBatch();
      await waitFor(async () => (await recorded()) > 0, { timeoutMs: 60_000, what: 'the first recorder recording' });
      first.ending = true;
      first.child.kill('SIGKILL');
      assert.equal((await first.exited).signal, 'SIGKILL');
      await said(second, /took over: projecting the audit stream/);
      const third = fleet.start('recorder');
      await said(third, /standing by: another recorder projects/);
      await publishBatch();
      await waitFor(async () => (await recorded()) === published.length, {
        timeoutMs: 60_000,
        what: `${published.length} events recorded\n${fleet.describe()}`,
      });

      // The holder's lock connection is cut on the server while the process lives: it stops, and one
      // of the two (the standby, or itself once it stood by) takes over.
      await publishBatch();
      const server = new pg.Client({ connectionString: postgres.url });
      await server.connect();
      try {
        const cut = await server.query(
          "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
          [RECORDER_LOCK],
        );
        assert.equal(cut.rowCount, 1, 'one session holds the recorder lock');
      } finally {
        await server.end();
      }
      await said(second, /lock dropped: stopped projecting, standing by/);
      await waitFor(() => fleet.countLines(/took over: projecting the audit stream/) === 2, {
        timeoutMs: 60_000,
        what: `a second take-over\n${fleet.describe()}`,
      });
      await publishBatch();
      await waitFor(async () => (await recorded()) === published.length, {
        timeoutMs: 60_000,
        what: `${published.length} events recorded\n${fleet.describe()}`,
      });

      // event_id is the events table's key, so this says none lost and none foreign, not "applied once".
      const rows = await database.all<{ event_id: string }>('SELECT event_id FROM events');
      assert.deepEqual(rows.map((row) => row.event_id).sort(), [...published].sort(), 'every published event, and nothing else, is recorded');
      const offset = await database.get<{ next_offset: number }>('SELECT next_offset FROM stream_offsets WHERE stream = ?', [QUEUES.audit]);
      assert.equal(offset?.next_offset, published.length, 'the stored offset is past the last event');
      assert.equal(fleet.countLines(/event could not be recorded/), 0, fleet.describe());
    } finally {
      await fleet.stopAll(5_000);
      await broker.close();
      await database.close();
      await vhost.cleanup();
      await postgres.drop();
    }
  },
);
