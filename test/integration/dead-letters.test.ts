/**
 * The dead-letter tools on the real RabbitMQ: a record the consumer runtime wrote and a message
 * the broker dead-lettered on TTL expiry, listed alike without leaving the queue, replayed to their
 * work queue unwrapped with attempts reset, selected by reason, purged, and the `dlq` command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqplib, { type Channel } from 'amqplib';
import { z } from 'zod';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { Broker } from '../../src/messaging/broker.js';
import { ATTEMPTS_HEADER, ConsumerRuntime } from '../../src/messaging/consumer.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { DeadLetterQueueBusyError, listDeadLetters, purgeDeadLetters, reasonContains, replayDeadLetters } from '../../src/messaging/dead-letters.js';
import { permanentError } from '../../src/lib/errors.js';
import { toClassify } from '../../src/pipeline/stages.js';

const run = promisify(execFile);

const bodySchema = z.object({ message_id: z.string(), email: z.object({ email_id: z.string(), priority: z.number() }) });

/** The message the handler refuses (wrapped by the runtime) and the one left to expire (broker). */
const refused = { message_id: 'msg-refused', email: { email_id: '<refused@example.com>', priority: 9 } };
const expiring = { message_id: 'msg-expiring', email: { email_id: '<expiring@example.com>', priority: 7 } };

interface Fixture {
  vhost: TestVhost;
  broker: Broker;
  channel: Channel;
}

/**
 * A vhost whose dead_letter_queue holds, in this order, the runtime's record of `refused` (a
 * permanent error on its first attempt) and `expiring`, dead-lettered by the broker after its
 * 50 ms TTL ran out in emails.to_classify with nobody consuming (it had had 2 attempts).
 */
async function withDeadLetters(body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  try {
    await broker.start();
    const channel = await connection.createChannel();
    const runtime = new ConsumerRuntime(
      {
        role: 'classifier',
        stage: { ...toClassify, schema: bodySchema },
        concurrency: 1,
        prefetch: 1,
        handle: async () => {
          throw permanentError('unknown_customer', 'the sender is not a customer');
        },
      },
      broker,
      vhost.logger,
      { maxAttempts: 3, retryBaseDelayMs: 200, shutdownGraceMs: 1_000 },
    );
    runtime.start();
    await broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, refused, { priority: refused.email.priority });
    await waitFor(async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount === 1, { what: 'the wrapped dead letter' });
    await runtime.stop();
    await broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, expiring, {
      priority: 7,
      expirationMs: 50,
      headers: { [ATTEMPTS_HEADER]: 2, 'x-trace': 'kept' },
    });
    await waitFor(async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount === 2, { what: 'the expired dead letter' });
    await body({ vhost, broker, channel });
  } finally {
    await broker.close();
    await connection.close();
    await vhost.cleanup();
  }
}

const count = async (channel: Channel, queue: string) => (await channel.checkQueue(queue)).messageCount;

test(
  'list shows the wrapped and the broker dead letter alike, with reason, queue, retry count and age, and leaves both in the queue',
  { timeout: 60_000 },
  async () => {
    await withDeadLetters(async ({ vhost, channel }) => {
      const entries = await listDeadLetters({ config: vhost.config });
      assert.equal(entries.length, 2);
      const [wrapped, expired] = entries;
      assert.equal(wrapped!.kind, 'wrapped');
      assert.equal(wrapped!.reason, 'the sender is not a customer');
      assert.equal(wrapped!.errorType, 'unknown_customer');
      assert.equal(wrapped!.originalQueue, QUEUES.toClassify);
      assert.equal(wrapped!.retryCount, 1);
      assert.equal(wrapped!.emailId, refused.email.email_id);
      assert.deepEqual(wrapped!.originalMessage, refused);
      assert.equal(wrapped!.id, wrapped!.record?.message_id);
      assert.equal(expired!.kind, 'broker');
      assert.equal(expired!.reason, 'expired');
      assert.equal(expired!.originalQueue, QUEUES.toClassify);
      assert.equal(expired!.retryCount, 2);
      assert.equal(expired!.id, 'msg-expiring');
      assert.equal(expired!.emailId, expiring.email.email_id);
      for (const entry of entries) assert.ok(entry.ageMs !== null && entry.ageMs >= 0 && entry.ageMs < 30_000, `age of ${entry.id}: ${entry.ageMs}`);
      assert.equal(await count(channel, QUEUES.deadLetter), 2, 'listing took nothing away');
      assert.deepEqual(
        (await listDeadLetters({ config: vhost.config })).map((entry) => entry.id),
        entries.map((entry) => entry.id),
        'same entries, same order',
      );
    });
  },
);

test(
  'replay <id> puts the original back in its work queue, unwrapped, attempts reset, records an event, and removes only that entry',
  { timeout: 60_000 },
  async () => {
    await withDeadLetters(async ({ vhost, broker, channel }) => {
      const { queue: eventQueue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(eventQueue, EXCHANGES.events, 'email.replayed');
      const [wrapped] = await listDeadLetters({ config: vhost.config });
      const outcome = await replayDeadLetters({ config: vhost.config, broker }, (entry) => entry.id === wrapped!.id);
      assert.deepEqual(
        outcome.done.map((entry) => entry.id),
        [wrapped!.id],
      );
      assert.deepEqual(outcome.failed, []);

      const replayed = await waitFor(() => channel.get(QUEUES.toClassify, { noAck: true }), { what: 'the replayed message' });
      assert.ok(replayed);
      assert.deepEqual(JSON.parse(replayed.content.toString('utf8')), refused);
      assert.equal(replayed.properties.messageId, refused.message_id);
      assert.equal(replayed.properties.priority, refused.email.priority);
      assert.equal(replayed.properties.headers?.[ATTEMPTS_HEADER], undefined);

      const remaining = await listDeadLetters({ config: vhost.config });
      assert.deepEqual(
        remaining.map((entry) => entry.id),
        ['msg-expiring'],
      );
      const event = await waitFor(() => channel.get(eventQueue, { noAck: true }), { what: 'the replayed event' });
      assert.ok(event);
      const recorded = JSON.parse(event.content.toString('utf8'));
      assert.equal(recorded.stage, 'replayed');
      assert.equal(recorded.email_id, refused.email.email_id);
      assert.equal(recorded.detail.original_queue, QUEUES.toClassify);
    });
  },
);

test(
  'replay --reason expired selects only the broker dead letter and republishes it with its id, priority and headers but no death or attempts',
  { timeout: 60_000 },
  async () => {
    await withDeadLetters(async ({ vhost, broker, channel }) => {
      const outcome = await replayDeadLetters({ config: vhost.config, broker }, reasonContains('EXPIRED'));
      assert.deepEqual(
        outcome.done.map((entry) => entry.id),
        ['msg-expiring'],
      );
      const replayed = await waitFor(() => channel.get(QUEUES.toClassify, { noAck: true }), { what: 'the replayed message' });
      assert.ok(replayed);
      assert.deepEqual(JSON.parse(replayed.content.toString('utf8')), expiring);
      assert.equal(replayed.properties.messageId, 'msg-expiring');
      assert.equal(replayed.properties.priority, 7);
      assert.equal(replayed.properties.headers?.[ATTEMPTS_HEADER], undefined);
      assert.equal(replayed.properties.headers?.['x-death'], undefined);
      assert.equal(replayed.properties.headers?.['x-trace'], 'kept');
      assert.equal(await count(channel, QUEUES.toClassify), 0, 'only one message replayed');
      assert.deepEqual(
        (await listDeadLetters({ config: vhost.config })).map((entry) => entry.kind),
        ['wrapped'],
      );
    });
  },
);

test('a second reader of dead_letter_queue is refused, not shown an empty queue', { timeout: 60_000 }, async () => {
  await withDeadLetters(async ({ vhost, channel }) => {
    await channel.consume(QUEUES.deadLetter, () => undefined, { noAck: false, exclusive: true });
    await assert.rejects(listDeadLetters({ config: vhost.config }), DeadLetterQueueBusyError);
  });
});

test('the dlq command: list prints the table, purge without --yes deletes nothing, purge --yes empties the queue', { timeout: 90_000 }, async () => {
  await withDeadLetters(async ({ vhost, channel }) => {
    const dlq = (...args: string[]) =>
      run('node_modules/.bin/tsx', ['src/cli/index.ts', 'dlq', ...args], {
        env: { ...process.env, AMQP_URL: vhost.config.AMQP_URL, RABBITMQ_MANAGEMENT_URL: vhost.config.RABBITMQ_MANAGEMENT_URL, LOG_LEVEL: 'error' },
      });
    const list = await dlq('list');
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0]!, /^ID\s+AGE\s+QUEUE\s+REASON\s+TYPE\s+RETRIES\s+EMAIL \/ DOCUMENT$/);
    assert.match(list.stdout, /emails\.to_classify\s+the sender is not a customer\s+unknown_customer\s+1\s+<refused@example\.com>/);
    assert.match(list.stdout, /msg-expiring\s+\d+s\s+emails\.to_classify\s+expired\s+broker\s+2\s+<expiring@example\.com>/);
    assert.equal(await count(channel, QUEUES.deadLetter), 2);

    const dryRun = await dlq('purge');
    assert.match(dryRun.stdout, /would delete 2 dead letter/);
    assert.equal(await count(channel, QUEUES.deadLetter), 2, 'nothing deleted without --yes');

    const purged = await dlq('purge', '--yes');
    assert.match(purged.stdout, /deleted 2, failed 0/);
    assert.equal(await count(channel, QUEUES.deadLetter), 0);
    assert.deepEqual((await purgeDeadLetters({ config: vhost.config }, () => true)).done, []);
  });
});

test(
  'replay of an emails.to_send dead letter goes back through reply_exchange (email_exchange no longer reaches emails.to_send) and lands in emails.to_send',
  { timeout: 60_000 },
  async () => {
    const vhost = await createTestVhost();
    const broker = new Broker(vhost.config, vhost.logger);
    const connection = await amqplib.connect(vhost.config.AMQP_URL);
    try {
      await broker.start();
      const channel = await connection.createChannel();
      const reply = { message_id: 'msg-reply', email: { email_id: '<reply@example.com>', priority: 4 } };
      await broker.publishRaw(EXCHANGES.reply, ROUTING_KEYS.send, reply, { priority: 4, expirationMs: 50 });
      await waitFor(async () => (await count(channel, QUEUES.deadLetter)) === 1, { what: 'the reply expired into dead_letter_queue' });
      const outcome = await replayDeadLetters({ config: vhost.config, broker }, () => true);
      assert.deepEqual(
        outcome.done.map((entry) => entry.originalQueue),
        [QUEUES.toSend],
      );
      const replayed = await waitFor(() => channel.get(QUEUES.toSend, { noAck: true }), { what: 'the replayed reply in emails.to_send' });
      assert.ok(replayed, 'a replay the broker confirmed but could not route would be lost');
      assert.equal(replayed.fields.exchange, EXCHANGES.reply);
      assert.deepEqual(JSON.parse(replayed.content.toString('utf8')), reply);
    } finally {
      await broker.close();
      await connection.close();
      await vhost.cleanup();
    }
  },
);
