/**
 * A delivery whose channel is gone is the broker's again: it has put the message back in the
 * queue. The runtime must then publish nothing for it, or each loss adds a copy (1 → 2 → 4 → 8, as
 * a handler frozen by a regex bomb produced). Shown on the real RabbitMQ twice: the connection
 * force-closed (management API) while a handler awaits, and the event loop held by a handler past
 * the heartbeat timeout, so the broker drops the connection while the process cannot notice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import { z } from 'zod';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, type Handler } from '../../src/messaging/consumer.js';
import { QUEUES, buildTopology } from '../../src/messaging/topology.js';
import { toClassify } from '../../src/pipeline/stages.js';

const bodySchema = z.object({ n: z.number() });
type Body = z.infer<typeof bodySchema>;

/** How many copies of the message exist now: ready in the work queue or any wait queue, plus the dead letters. */
async function copiesInQueues(vhost: TestVhost): Promise<number> {
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const topology = buildTopology({ maxAttempts: vhost.config.MAX_ATTEMPTS, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, eventsMaxAge: '7D' });
    let total = 0;
    for (const queue of topology.queues.filter((candidate) => candidate.name !== QUEUES.audit)) total += (await channel.checkQueue(queue.name)).messageCount;
    return total;
  } finally {
    await connection.close();
  }
}

/**
 * Runs a runtime on emails.to_classify whose first attempt is `firstAttempt` (it ends by throwing
 * a retryable error) and whose later deliveries complete at once; returns the completions and the
 * copies left in the queues once nothing moved for a while.
 */
async function runLosingFirstAttempt(
  overrides: Record<string, string>,
  firstAttempt: (vhost: TestVhost, broker: Broker) => Promise<void>,
): Promise<{ completions: number[]; leftover: number }> {
  const vhost = await createTestVhost(overrides);
  const broker = new Broker(vhost.config, vhost.logger);
  const completions: number[] = [];
  let firstSeen = false;
  const handle: Handler<Body> = async (_message, context) => {
    if (!firstSeen) {
      firstSeen = true;
      await firstAttempt(vhost, broker);
      throw new Error('upstream timed out');
    }
    completions.push(context.attempt);
    return { status: 'ok' };
  };
  const runtime = new ConsumerRuntime(
    { role: 'lost-channel', stage: { ...toClassify, schema: bodySchema }, handle, concurrency: 1, prefetch: 1 },
    broker,
    vhost.logger,
    { maxAttempts: 3, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000 },
  );
  try {
    await broker.start();
    runtime.start();
    await broker.publishRaw('email_exchange', 'classify', { n: 1 });
    await waitFor(() => completions.length >= 1, { timeoutMs: 60_000, what: 'the message handled after the lost attempt' });
    // A retry copy would come back from its 200 ms wait queue well within this.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    return { completions: [...completions], leftover: await copiesInQueues(vhost) };
  } finally {
    await runtime.stop();
    await broker.close();
    await vhost.cleanup();
  }
}

test(
  'a handler that fails after the broker closed its connection leaves exactly one copy: the original, redelivered; no retry copy',
  { timeout: 120_000 },
  async () => {
    const outcome = await runLosingFirstAttempt({}, async (vhost) => {
      const connection = await waitFor(
        async () =>
          (await vhost.management.connections()).find(
            (candidate) => candidate.vhost === vhost.name && String(candidate.client_properties?.connection_name ?? '').startsWith('ragmail'),
          ),
        { timeoutMs: 30_000, what: 'the worker connection in the management API' },
      );
      if (!connection) throw new Error('no worker connection');
      await vhost.management.closeConnection(connection.name);
      // Let the close reach this process before the handler gives up.
      await new Promise((resolve) => setTimeout(resolve, 500));
    });
    assert.deepEqual(outcome.completions, [1], 'handled once more, as the first attempt again (the retry copy would be attempt 2)');
    assert.equal(outcome.leftover, 0, 'no copy left in any queue');
  },
);

test(
  'a handler that holds the event loop past the heartbeat timeout (the broker drops the connection), then fails, leaves exactly one copy',
  { timeout: 120_000 },
  async () => {
    const outcome = await runLosingFirstAttempt({ AMQP_HEARTBEAT_SECONDS: '1' }, async () => {
      // What a regex bomb does: nothing else in the process runs, heartbeats included.
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        /* busy */
      }
      // Then the handler goes on with some I/O (a model call) before it fails: by then the lost
      // connection has shown, and amqp-connection-manager would hold a publish for the next one.
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    assert.deepEqual(outcome.completions, [1], 'handled once more, as the first attempt again (the retry copy would be attempt 2)');
    assert.equal(outcome.leftover, 0, 'no copy left in any queue');
  },
);
