/**
 * QUEUE_TYPE=quorum on the real RabbitMQ (3.10 here, one node; the cluster is
 * test/faults/cluster-failover.test.ts): what `broker.start()` declares, read back through the
 * management API and written out again by hand; a vhost declared with the other queue type stops
 * the worker with a TopologyMismatchError, both ways; and the broker-side behaviours the quorum
 * arguments exist for: a wait queue's TTL bringing a retry back, TTL expiry and the delivery limit
 * dead-lettering into dead_letter_queue, and dead_letter_queue itself never dropping a record that
 * was only looked at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib, { type Channel, type GetMessage } from 'amqplib';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { freePort } from '../helpers/private-broker.js';
import { Broker, TopologyMismatchError } from '../../src/messaging/broker.js';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { QUEUES, QUORUM_DELIVERY_LIMIT, retryExchangeName, waitQueueName, waitRoutingKey } from '../../src/messaging/topology.js';

/** What a quorum work queue adds to its classic arguments (src/messaging/topology.ts, asQuorumQueue), written out by hand. */
const QUORUM_WORK = { 'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish', 'x-delivery-limit': 20 };
const DEAD_LETTER = { 'x-dead-letter-exchange': 'dead_letter_exchange' };
const QUORUM_ARGUMENTS: Record<string, Record<string, unknown>> = {
  // No x-max-priority: RabbitMQ 3.10 refuses it on a quorum queue.
  'emails.to_classify': { ...QUORUM_WORK, 'x-message-ttl': 3_600_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'emails.to_respond': { ...QUORUM_WORK, 'x-message-ttl': 7_200_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'emails.to_send': { ...QUORUM_WORK, 'x-message-ttl': 3_600_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'documents.to_ingest': { ...QUORUM_WORK, 'x-message-ttl': 1_800_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_documents' },
  dead_letter_queue: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1_000_000_000 },
};

async function withVhost(overrides: Record<string, string>, body: (vhost: TestVhost) => Promise<void>): Promise<void> {
  const vhost = await createTestVhost(overrides);
  try {
    await body(vhost);
  } finally {
    await vhost.cleanup();
  }
}

/** The next message of `queue`, waiting for it to arrive. */
async function nextMessage(channel: Channel, queue: string, timeoutMs: number, what: string): Promise<GetMessage> {
  const message = await waitFor(() => channel.get(queue, { noAck: true }), { timeoutMs, what });
  if (!message) throw new Error(`no ${what}`);
  return message;
}

/** Declares the topology with `config`'s queue type, or returns why not. */
async function startBroker(vhost: TestVhost, queueType: 'classic' | 'quorum'): Promise<unknown> {
  const broker = new Broker({ ...vhost.config, QUEUE_TYPE: queueType }, vhost.logger);
  try {
    return await broker.start().then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
  } finally {
    await broker.close();
  }
}

test(
  'QUEUE_TYPE=quorum: start() declares every queue but the audit stream as a quorum queue, with a delivery limit and at-least-once dead-lettering, exact arguments',
  { timeout: 60_000 },
  async () => {
    await withVhost({ QUEUE_TYPE: 'quorum' }, async (vhost) => {
      assert.equal(await startBroker(vhost, 'quorum'), undefined, 'start() succeeds');
      const { management } = vhost;
      const waits = ['emails.to_classify', 'emails.to_respond', 'emails.to_send', 'documents.to_ingest'].flatMap((queue) =>
        [200, 400].map((ttl) => ({ name: waitQueueName(queue, ttl), ttl, target: queue })),
      );
      const expected = Object.keys(QUORUM_ARGUMENTS).length + waits.length + 1;
      await waitFor(async () => (await management.queues()).length >= expected, { timeoutMs: 20_000, what: 'the declared queues' });
      const byName = new Map((await management.queues()).map((queue) => [queue.name, queue as typeof queue & { type?: string }]));
      for (const [name, argumentsExpected] of Object.entries(QUORUM_ARGUMENTS)) {
        assert.equal(byName.get(name)?.type, 'quorum', `${name} is a quorum queue`);
        assert.deepEqual(byName.get(name)?.arguments, argumentsExpected, `${name} arguments`);
      }
      for (const wait of waits) {
        assert.equal(byName.get(wait.name)?.type, 'quorum', `${wait.name} is a quorum queue`);
        assert.deepEqual(byName.get(wait.name)?.arguments, {
          'x-queue-type': 'quorum',
          'x-message-ttl': wait.ttl,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': wait.target,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
          'x-delivery-limit': 20,
        });
      }
      assert.equal(byName.get(QUEUES.audit)?.type, 'stream');
    });
  },
);

test(
  'a vhost declared with QUEUE_TYPE=classic stops a quorum worker with a TopologyMismatchError naming the queue, and the other way round',
  { timeout: 60_000 },
  async () => {
    for (const [declared, worker] of [
      ['classic', 'quorum'],
      ['quorum', 'classic'],
    ] as const) {
      await withVhost({}, async (vhost) => {
        assert.equal(await startBroker(vhost, declared), undefined, `the vhost is declared with ${declared} queues`);
        const error = await startBroker(vhost, worker);
        assert.ok(error instanceof TopologyMismatchError, `a ${worker} worker on a ${declared} vhost: a TopologyMismatchError, got ${String(error)}`);
        assert.equal(error.queue, QUEUES.toClassify);
        assert.equal(error.retryable, false);
        assert.equal(error.declared['x-queue-type'], worker === 'quorum' ? 'quorum' : undefined);
        assert.equal(error.existing?.['x-queue-type'], declared === 'quorum' ? 'quorum' : undefined);
        assert.match(error.message, /Queue "emails\.to_classify" already exists with different arguments/);
      });
    }
  },
);

test(
  'quorum queues: a retry waits in its quorum wait queue and comes back to its work queue; an expired message and one returned past the delivery limit land in dead_letter_queue with their x-death reason',
  { timeout: 60_000 },
  async () => {
    await withVhost({ QUEUE_TYPE: 'quorum' }, async (vhost) => {
      const broker = new Broker(vhost.config, vhost.logger);
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      try {
        await broker.start();
        const channel = await connection.createChannel();

        await broker.publishRaw(retryExchangeName(QUEUES.toRespond), waitRoutingKey(200), { n: 1 }, { messageId: 'retry-1', expirationMs: 150 });
        const back = await nextMessage(channel, QUEUES.toRespond, 10_000, 'the retry back in emails.to_respond');
        assert.equal(back.properties.messageId, 'retry-1');

        await broker.sendToQueue(QUEUES.toRespond, { n: 2 }, { messageId: 'expiring-2', expirationMs: 100 });
        const expired = await nextMessage(channel, QUEUES.deadLetter, 10_000, 'the expired message in dead_letter_queue');
        assert.equal(expired.properties.messageId, 'expiring-2');
        assert.equal((expired.properties.headers?.['x-death'] as Array<{ reason: string }>)[0]?.reason, 'expired');

        await broker.sendToQueue(QUEUES.toSend, { n: 3 }, { messageId: 'poison-3' });
        // Deliveries 0 … QUORUM_DELIVERY_LIMIT are allowed; the return of the last one goes over the limit.
        let deliveries = 0;
        for (;;) {
          const message = await waitFor(() => channel.get(QUEUES.toSend, { noAck: false }).then((got) => got || undefined), {
            timeoutMs: 500,
            what: 'the next delivery',
          }).catch(() => undefined);
          if (!message) break;
          deliveries += 1;
          channel.nack(message, false, true);
        }
        assert.equal(deliveries, QUORUM_DELIVERY_LIMIT + 1, 'delivered up to the limit, then no more');
        const overLimit = await nextMessage(channel, QUEUES.deadLetter, 10_000, 'the message over the delivery limit in dead_letter_queue');
        assert.equal(overLimit.properties.messageId, 'poison-3');
        assert.equal((overLimit.properties.headers?.['x-death'] as Array<{ reason: string }>)[0]?.reason, 'delivery_limit');
      } finally {
        await connection.close().catch(() => undefined);
        await broker.close();
      }
    });
  },
);

test(
  "quorum dead_letter_queue: a record looked at by npm run dlq more often than the work queues' delivery limit is still there",
  { timeout: 90_000 },
  async () => {
    await withVhost({ QUEUE_TYPE: 'quorum' }, async (vhost) => {
      const broker = new Broker(vhost.config, vhost.logger);
      try {
        await broker.start();
        await broker.sendToQueue(QUEUES.deadLetter, { n: 4 }, { messageId: 'dead-4' });
        // Each listing takes every record and nacks it back: one delivery counted per look.
        for (let look = 0; look <= QUORUM_DELIVERY_LIMIT + 2; look += 1) {
          const entries = await listDeadLetters({ config: vhost.config });
          assert.deepEqual(
            entries.map((entry) => entry.messageId),
            ['dead-4'],
            `look ${look + 1}: the record is listed`,
          );
        }
      } finally {
        await broker.close();
      }
    });
  },
);

test("npm run dlq with a cluster's AMQP_URL list reads dead_letter_queue through the next node when the first is down", { timeout: 60_000 }, async () => {
  await withVhost({ QUEUE_TYPE: 'quorum' }, async (vhost) => {
    const broker = new Broker(vhost.config, vhost.logger);
    try {
      await broker.start();
      await broker.sendToQueue(QUEUES.deadLetter, { n: 5 }, { messageId: 'dead-5' });
    } finally {
      await broker.close();
    }
    // A port nothing listens on stands for a node that is down; the vhost is the same on every node.
    const down = new URL(vhost.config.AMQP_URL);
    down.port = String(await freePort());
    const entries = await listDeadLetters({ config: { ...vhost.config, AMQP_URL: down.toString(), amqpUrls: [down.toString(), vhost.config.AMQP_URL] } });
    assert.deepEqual(
      entries.map((entry) => entry.messageId),
      ['dead-5'],
    );
  });
});
