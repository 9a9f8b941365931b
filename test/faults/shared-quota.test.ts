/**
 * Fault suite, issue 19: two senders on "two hosts" — processes with DATA_DIRs of their own, so no
 * SQLite file in common, and no Redis — share one PostgreSQL database (DATABASE_URL): its send
 * ledger holds the claims and the daily quota for both. Every reply is published twice, so the
 * two race for each email. The daily quota is smaller than the number of emails: exactly the quota
 * goes out, the rest become drafts (the quota's documented behaviour for auto-sent replies), and
 * no reply is written twice, none lost, nothing dead-lettered.
 *
 * The mailbox is the outside world both hosts reach: one Maildir, watched for every write.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqplib from 'amqplib';
import { Broker } from '../../src/messaging/broker.js';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { replyFileName } from '../../src/providers/mailbox/maildir.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { toSend } from '../../src/pipeline/stages.js';
import { openDatabase } from '../../src/store/database.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { FAULT_WORKER_ENVIRONMENT } from '../helpers/faults.js';
import { ACME, sendMessage } from '../helpers/pipeline.js';
import { createTestPostgres } from '../helpers/postgres.js';
import { ReplyWatch } from '../helpers/reply-watch.js';
import { WorkerFleet } from '../helpers/worker-fleet.js';

const EMAILS = 30;
const QUOTA = 12;

/** The ready messages and consumers of `queue`, asked on a connection of its own. */
async function queueState(amqpUrl: string, queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const connection = await amqplib.connect(amqpUrl);
  try {
    return await (await connection.createChannel()).checkQueue(queue);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

test(
  'two senders on two hosts, one PostgreSQL database, no Redis, a quota below the mail: the quota sent and never exceeded, the rest drafted, 0 sent twice, 0 lost',
  { timeout: 180_000 },
  async () => {
    const postgres = await createTestPostgres();
    const vhost = await createTestVhost({ ...FAULT_WORKER_ENVIRONMENT, LOG_LEVEL: 'error' });
    const maildirRoot = mkdtempSync(path.join(tmpdir(), 'ragmail-shared-mailbox-'));
    const hosts = [0, 1].map(() => mkdtempSync(path.join(tmpdir(), 'ragmail-host-')));
    const database = await openDatabase(postgres.url);
    const watch = new ReplyWatch(maildirRoot, [ACME]);
    const fleets = hosts.map(
      (dataDir) =>
        new WorkerFleet({
          ...FAULT_WORKER_ENVIRONMENT,
          AMQP_URL: vhost.config.AMQP_URL,
          RABBITMQ_MANAGEMENT_URL: vhost.config.RABBITMQ_MANAGEMENT_URL,
          DATA_DIR: dataDir,
          MAILDIR_ROOT: maildirRoot,
          DATABASE_URL: postgres.url,
          DAILY_SEND_QUOTA: String(QUOTA),
        }),
    );
    const broker = new Broker(vhost.config, vhost.logger);
    try {
      await broker.start();
      for (const fleet of fleets) fleet.start('sender');
      const describe = () => fleets.map((fleet) => fleet.describe()).join('\n');
      await waitFor(async () => (await queueState(vhost.config.AMQP_URL, toSend.queue)).consumerCount === 2, {
        timeoutMs: 60_000,
        what: `both senders consuming\n${describe()}`,
      });

      const messages = await Promise.all(Array.from({ length: EMAILS }, () => sendMessage(ACME, makeEmail({ to: ACME }))));
      // Each reply twice: a copy for each sender, as a redelivery after a lost ack would give them.
      for (const message of messages) await broker.publish(toSend, message);
      for (const message of messages) await broker.publish(toSend, message);

      const fileOf = (email: (typeof messages)[number]['email']) => replyFileName(replyMessageId(mailboxKeyOf(email), ACME));
      const writes = (folder: 'outbox' | 'drafts') => messages.map((message) => watch.writesOf(ACME, folder, fileOf(message.email)));
      await Promise.race([
        waitFor(() => watch.seen().length === EMAILS, { timeoutMs: 90_000, what: `a reply or draft for each of ${EMAILS} emails\n${describe()}` }),
        ...fleets.map((fleet) => fleet.died),
      ]);
      // Both copies of every message settled, and a while of quiet for a late second write to show.
      await waitFor(async () => (await queueState(vhost.config.AMQP_URL, toSend.queue)).messageCount === 0, {
        timeoutMs: 60_000,
        what: `emails.to_send drained\n${describe()}`,
      });
      await new Promise((resolve) => setTimeout(resolve, 2_000));

      const [sent, drafted] = [writes('outbox'), writes('drafts')];
      assert.deepEqual(watch.errors(), []);
      assert.equal(sent.filter((count) => count > 0).length, QUOTA, `exactly the quota of ${QUOTA} replies sent, never more: ${sent.join(',')}\n${describe()}`);
      assert.ok(
        sent.every((count) => count <= 1),
        `no reply sent twice: ${sent.join(',')}`,
      );
      assert.ok(
        drafted.every((count) => count <= 1),
        `no draft written twice: ${drafted.join(',')}`,
      );
      assert.ok(
        sent.every((count, index) => count + drafted[index]! === 1),
        `each email sent or drafted, once: sent ${sent.join(',')}, drafted ${drafted.join(',')}`,
      );
      assert.equal(await new SendLedger(database).quotaRemaining(ACME, QUOTA), 0, "the shared ledger's quota counted each send once");
      // Claims are owned `host:pid:…`: both processes sent or drafted some of the replies.
      const owners = await database.all<{ owner: string }>('SELECT DISTINCT owner FROM send_ledger WHERE owner IS NOT NULL');
      const pids = new Set(owners.map(({ owner }) => Number(owner.split(':')[1])));
      assert.ok(
        fleets.every((fleet) => pids.has(fleet.processes[0]!.pid)),
        `both senders took part: ${owners.map(({ owner }) => owner).join(', ')}`,
      );
      assert.deepEqual(await listDeadLetters({ config: vhost.config }), [], 'nothing dead-lettered');
      for (const fleet of fleets) assert.deepEqual(fleet.unexpectedExits, [], 'no sender died');
      process.stdout.write(
        `faults shared-quota: ${EMAILS} emails (each published twice) to 2 senders on one PostgreSQL database, quota ${QUOTA}: ${QUOTA} sent, ${EMAILS - QUOTA} drafted\n`,
      );
    } finally {
      watch.close();
      for (const fleet of fleets) await fleet.stopAll(5_000);
      await broker.close();
      await database.close();
      await vhost.cleanup();
      await postgres.drop();
      for (const directory of [maildirRoot, ...hosts]) rmSync(directory, { recursive: true, force: true });
    }
  },
);
