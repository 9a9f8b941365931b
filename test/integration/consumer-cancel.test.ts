/**
 * A consumer the broker cancels (basic.cancel: its queue deleted, its node lost) while the connection
 * stays up comes back by itself: on the real RabbitMQ, the classifier's queue is deleted under a
 * running worker, which logs and counts the cancel, reports not ready, declares the queue again as
 * the topology has it, and classifies an email published afterwards; and deleted under a message
 * being handled, whose failure then checks the missing queue on the consumer's channel, which the
 * broker closes (the connection stays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import { EXCHANGES, QUEUES, REQUEUE_ROUTING_KEY, ROUTING_KEYS, retryExchangeName } from '../../src/messaging/topology.js';
import { toClassify } from '../../src/pipeline/stages.js';
import { z } from 'zod';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, type Handler } from '../../src/messaging/consumer.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { captureWarnings } from '../helpers/log-capture.js';
import { ACME, classifyMessage, waitForSettled, withPipeline } from '../helpers/pipeline.js';
import { sampleValue } from '../helpers/prometheus.js';

const QUESTION = makeEmail({
  from: 'jose@mailbox.example',
  to: ACME,
  subject: 'How do I reset my router admin password?',
  body: 'Hello, I forgot the admin password of my X200 router. How do I reset it? Thanks, José\n',
});

const bodySchema = z.object({ n: z.number() });
type Body = z.infer<typeof bodySchema>;

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string>; reasons: string[] };
}

for (const queueType of ['classic', 'quorum'] as const) {
  test(
    `a ${queueType} work queue deleted under a running worker: the cancel is logged and counted, /readyz is 503 until the queue is back with its arguments and bindings, then an email published afterwards is classified`,
    { timeout: 90_000 },
    async () => {
      // The first re-subscription waits AMQP_RECONNECT_MIN_MS: long enough to see the worker unready.
      await withPipeline(['classifier'], { QUEUE_TYPE: queueType, AMQP_RECONNECT_MIN_MS: '2000', AMQP_RECONNECT_MAX_MS: '4000' }, async (pipeline) => {
        const { vhost, worker } = pipeline;
        const queue = QUEUES.toClassify;
        const readiness = async (): Promise<Readiness> => {
          const response = await fetch(`${worker.http.url}/readyz`);
          return { status: response.status, body: (await response.json()) as Readiness['body'] };
        };
        const queueOnBroker = async () => (await vhost.management.queues()).find((entry) => entry.name === queue);
        // The queue's own count, not the management statistics that lag seconds behind.
        const connection = await amqplib.connect(vhost.config.AMQP_URL);
        const channel = await connection.createChannel();
        const consumers = async () => (await channel.checkQueue(queue)).consumerCount;
        // The role is ready before its consumer channel's setup ran, and that setup declares the queue.
        await waitFor(async () => (await consumers()) === 1, { what: 'the classifier consuming' });
        const before = await queueOnBroker();
        assert.ok(before, 'the topology declared the queue');
        assert.deepEqual((await readiness()).body.checks, { broker: 'ok', consumers: 'ok', roles: 'ok' });
        const warnings = captureWarnings(vhost.logger);

        await vhost.management.request('DELETE', `queues/${encodeURIComponent(vhost.name)}/${encodeURIComponent(queue)}`);

        const unready = await waitFor(
          async () => {
            const answer = await readiness();
            return answer.status === 503 ? answer : undefined;
          },
          { timeoutMs: 2_000, intervalMs: 25, what: '/readyz 503 once the broker cancelled the consumer' },
        );
        assert.deepEqual(unready?.body.reasons, [`consumers: cancelled by the broker, subscribing again: ${queue}`]);
        assert.equal(unready?.body.checks.broker, 'ok', 'the connection stayed up');
        const cancel = warnings.find((line) => String(line.message).startsWith('the broker cancelled the consumer'));
        assert.equal(cancel?.queue, queue, `the cancel is logged with its queue: ${JSON.stringify(warnings)}`);

        await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 20_000, intervalMs: 100, what: '/readyz 200 after the re-subscription' });
        const after = await queueOnBroker();
        assert.ok(after, 'the queue is declared again');
        assert.deepEqual(after.arguments, before.arguments, 'with the arguments of the topology');
        const bindings = (await vhost.management.bindings()).filter((binding) => binding.destination === queue && binding.source !== '');
        assert.deepEqual(bindings.map((binding) => `${binding.source} ${binding.routing_key}`).sort(), [
          `${EXCHANGES.email} ${ROUTING_KEYS.classify}`,
          `${retryExchangeName(queue)} ${REQUEUE_ROUTING_KEY}`,
        ]);

        assert.equal(await consumers(), 1, 'one consumer again, not two');
        await connection.close();

        await worker.broker.publish(toClassify, await classifyMessage(ACME, QUESTION));
        const [settled] = await waitForSettled(pipeline, 'classifier', 1);
        assert.equal(settled.outcome, 'processed');
        const metrics = await (await fetch(`${worker.http.url}/metrics`)).text();
        assert.equal(sampleValue(metrics, 'ragmail_consumer_cancellations_total', { queue }), 1);
      });
    },
  );
}

test(
  'a queue deleted while its message is handled: the failed attempt closes the consumer channel on the missing queue; the process lives on, reconnects, and handles the next message',
  { timeout: 90_000 },
  async () => {
    const vhost = await createTestVhost({ AMQP_RECONNECT_MIN_MS: '500', AMQP_RECONNECT_MAX_MS: '1000' });
    const warnings = captureWarnings(vhost.logger);
    const broker = new Broker(vhost.config, vhost.logger);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const handled: number[] = [];
    const handle: Handler<Body> = async (message) => {
      if (message.n === 1) {
        await released;
        throw new Error('upstream timed out');
      }
      handled.push(message.n);
      return { status: 'ok' };
    };
    const runtime = new ConsumerRuntime(
      { role: 'consumer-cancel', stage: { ...toClassify, schema: bodySchema }, handle, concurrency: 1, prefetch: 1 },
      broker,
      vhost.logger,
      { maxAttempts: 3, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000 },
    );
    try {
      await broker.start();
      runtime.start();
      await broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, { n: 1 });
      await waitFor(() => runtime.activeCount === 1, { what: 'the first message in the handler' });
      await vhost.management.request('DELETE', `queues/${encodeURIComponent(vhost.name)}/${encodeURIComponent(QUEUES.toClassify)}`);
      await waitFor(() => broker.cancelledQueues.length === 1, { what: 'the cancel' });
      // The retry path checks the queue on the delivery's channel before publishing a copy: a 404.
      release();
      await waitFor(() => warnings.some((line) => line.message === 'the consumer channel closed while the connection stays; reconnecting'), {
        what: 'the forced reconnect',
      });
      await waitFor(() => broker.cancelledQueues.length === 0 && broker.ready, { what: 'consuming again' });
      await broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, { n: 2 });
      await waitFor(() => handled.length === 1, { what: 'the message published afterwards handled' });
      assert.deepEqual(handled, [2]);
    } finally {
      await runtime.stop();
      await broker.close();
      await vhost.cleanup();
    }
  },
);
