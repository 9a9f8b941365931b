/**
 * The metrics and health endpoints of a real worker (startWorker on a test vhost, METRICS_PORT=0),
 * scraped over HTTP: counters move with the right labels when messages go through, the queue
 * gauges follow the broker, the exposition passes promtool, and /readyz follows the broker
 * connection through a forced close and the reconnect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { startWorker } from '../../src/app/worker.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { classifyMessage, startPipeline, waitForSettled, ACME, type Pipeline, withPipeline } from '../helpers/pipeline.js';
import { promtoolCheck, sampleValue } from '../helpers/prometheus.js';
import { toClassify } from '../../src/pipeline/stages.js';
import amqplib from 'amqplib';
import { z } from 'zod';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime } from '../../src/messaging/consumer.js';
import { consumerReadiness } from '../../src/observability/health.js';

const SUPPORT_QUESTION = makeEmail({
  from: 'jose@mailbox.example',
  to: ACME,
  subject: 'How do I reset my router admin password?',
  body: 'Hello, I forgot the admin password of my X200 router. How do I reset it? Thanks, José\n',
});

async function scrape(pipeline: Pipeline): Promise<string> {
  const response = await fetch(`${pipeline.worker.http.url}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** Publishes one valid email and one body that fails validation; returns the valid one's status. */
async function pushValidAndInvalid(pipeline: Pipeline): Promise<string> {
  const valid = await classifyMessage(ACME, SUPPORT_QUESTION);
  await pipeline.worker.broker.publish(toClassify, valid);
  await pipeline.worker.broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, { message_id: 'not-an-email', hello: 'world' });
  const settled = await waitForSettled(pipeline, 'classifier', 2);
  const processed = settled.find((info) => info.outcome === 'processed');
  assert.ok(processed, `one message processed: ${JSON.stringify(settled)}`);
  return processed.status;
}

test('a worker counts a processed and a dead-lettered message with role, queue, outcome and status labels', { timeout: 60_000 }, async () => {
  await withPipeline(['classifier'], {}, async (pipeline) => {
    const status = await pushValidAndInvalid(pipeline);
    const text = await scrape(pipeline);
    const role = 'classifier';
    const queue = QUEUES.toClassify;
    assert.equal(sampleValue(text, 'ragmail_messages_total', { role, queue, outcome: 'processed' }), 1);
    assert.equal(sampleValue(text, 'ragmail_messages_total', { role, queue, outcome: 'dead_lettered' }), 1);
    assert.equal(sampleValue(text, 'ragmail_messages_total', { role, queue, outcome: 'retried' }), undefined);
    assert.equal(sampleValue(text, 'ragmail_message_status_total', { role, status }), 1);
    assert.equal(sampleValue(text, 'ragmail_message_status_total', { role, status: 'schema_invalid' }), 1);
    assert.equal(sampleValue(text, 'ragmail_message_duration_seconds_count', { role, outcome: 'processed' }), 1);
    // The classifier's stage event (classified or ignored, after the model call) and the runtime's dead_lettered event.
    assert.equal(sampleValue(text, 'ragmail_stage_duration_seconds_count', { stage: status }), 1);
    assert.equal(sampleValue(text, 'ragmail_stage_events_total', { role, stage: status }), 1);
    assert.equal(sampleValue(text, 'ragmail_stage_events_total', { role, stage: 'dead_lettered' }), 1);
    assert.ok((sampleValue(text, 'ragmail_process_cpu_user_seconds_total') ?? 0) > 0, 'Node process metrics, prefixed');

    // Queue gauges come from the management API, whose statistics lag a few seconds behind.
    const gauges =
      (await waitFor(
        async () => {
          const current = await scrape(pipeline);
          return sampleValue(current, 'ragmail_queue_consumers', { queue }) === 1 &&
            sampleValue(current, 'ragmail_queue_messages', { queue }) === 0 &&
            sampleValue(current, 'ragmail_queue_messages', { queue: QUEUES.deadLetter }) === 1
            ? current
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'queue gauges from the management API' },
      )) ?? '';
    assert.equal(sampleValue(gauges, 'ragmail_management_up'), 1);
  });
});

test('the /metrics of a worker running every consumer role passes promtool check metrics', { timeout: 60_000 }, async (context) => {
  await withPipeline(['classifier', 'responder', 'sender', 'ingester'], { MAILBOX_POLICIES: `${ACME}=auto` }, async (pipeline) => {
    await pushValidAndInvalid(pipeline);
    const text = await scrape(pipeline);
    assert.equal(sampleValue(text, 'ragmail_send_quota_remaining', { agent_email: ACME }), pipeline.vhost.config.DAILY_SEND_QUOTA);
    const verdict = promtoolCheck(context, text);
    if (!verdict) return;
    assert.equal(verdict.status, 0, `promtool check metrics found:\n${verdict.findings}`);
  });
});

test('/readyz is 503 while the broker connection is down and 200 again after the reconnect; /healthz stays 200', { timeout: 60_000 }, async () => {
  // A slow reconnect leaves seconds to see the worker unready.
  const pipeline = await startPipeline(['classifier'], { AMQP_RECONNECT_MIN_MS: '1500', AMQP_RECONNECT_MAX_MS: '3000' });
  const { url } = pipeline.worker.http;
  const readiness = async () => {
    const response = await fetch(`${url}/readyz`);
    return { status: response.status, body: (await response.json()) as { status: string; reasons: string[] } };
  };
  try {
    // Ready once the consumer subscribed, a moment after the roles started.
    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 10_000, intervalMs: 25, what: '/readyz 200 after the start' });
    assert.deepEqual(await readiness(), { status: 200, body: { status: 'ready', checks: { broker: 'ok', consumers: 'ok', roles: 'ok' }, reasons: [] } });
    const connection = await waitFor(async () => (await pipeline.vhost.management.connections()).find((entry) => entry.vhost === pipeline.vhost.name), {
      timeoutMs: 15_000,
      what: 'the worker connection in the management API',
    });
    assert.ok(connection);
    await pipeline.vhost.management.closeConnection(connection.name);

    const down = await waitFor(
      async () => {
        const answer = await readiness();
        return answer.status === 503 ? answer : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 25, what: '/readyz 503 after the connection was closed' },
    );
    assert.ok(down);
    assert.equal(down.body.status, 'not_ready');
    assert.match(down.body.reasons.join('\n'), /^broker: /m);
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200, 'alive while the broker is away');

    await waitFor(async () => (await readiness()).status === 200, { timeoutMs: 20_000, intervalMs: 100, what: '/readyz 200 after the reconnect' });
  } finally {
    await pipeline.close();
  }
  await assert.rejects(fetch(`${url}/healthz`), 'the server is closed with the worker');
});

test(
  'a consumer is not ready until the broker has it subscribed: /readyz names its queue from the start of the role until the consume',
  { timeout: 60_000 },
  async () => {
    const vhost = await createTestVhost();
    const broker = new Broker(vhost.config, vhost.logger);
    const runtime = new ConsumerRuntime(
      { role: 'readiness', stage: { ...toClassify, schema: z.object({ n: z.number() }) }, handle: async () => ({ status: 'ok' }), concurrency: 1, prefetch: 1 },
      broker,
      vhost.logger,
      { maxAttempts: 3, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000 },
    );
    const connection = await amqplib.connect(vhost.config.AMQP_URL);
    try {
      await broker.start();
      const check = consumerReadiness(broker);
      assert.equal(check(), undefined, 'no consumer asked for, none missing');
      runtime.start();
      // The consumer channel's setup (topology, prefetch, basic.consume) has not run yet.
      assert.equal(check(), `not consuming yet: ${QUEUES.toClassify}`);
      await waitFor(() => check() === undefined, { what: 'the consumer subscribed' });
      const channel = await connection.createChannel();
      assert.equal((await channel.checkQueue(QUEUES.toClassify)).consumerCount, 1, 'ready means the broker has the consumer');
    } finally {
      await runtime.stop();
      await broker.close();
      await connection.close();
      await vhost.cleanup();
    }
  },
);

/** Listens on `count` consecutive loopback ports from a random base, or throws when they are not all free. */
async function blockPorts(count: number): Promise<{ base: number; close(): Promise<void> }> {
  for (let tries = 0; tries < 20; tries += 1) {
    const base = 40_000 + Math.floor(Math.random() * 20_000);
    const servers: ReturnType<typeof createServer>[] = [];
    try {
      for (let port = base; port < base + count; port += 1) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
        servers.push(server);
      }
      return { base, close: () => Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined) };
    } catch {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    }
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

test('a second worker on the same host takes the next free metrics port; with none free it refuses and names METRICS_PORT', { timeout: 30_000 }, async () => {
  const taken = await blockPorts(2);
  const vhost = await createTestVhost({ METRICS_PORT: String(taken.base) });
  try {
    const worker = await startWorker(['classifier'], vhost.config, vhost.logger);
    try {
      assert.equal(worker.http.port, taken.base + 2, 'the first port free after the taken ones');
      assert.equal((await fetch(`${worker.http.url}/healthz`)).status, 200);
    } finally {
      await worker.stop();
    }
  } finally {
    await taken.close();
    await vhost.cleanup();
  }

  const all = await blockPorts(21);
  const crowded = await createTestVhost({ METRICS_PORT: String(all.base) });
  try {
    await assert.rejects(startWorker(['classifier'], crowded.config, crowded.logger), /METRICS_PORT.*EADDRINUSE/s);
  } finally {
    await all.close();
    await crowded.cleanup();
  }
});
