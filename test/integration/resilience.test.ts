/**
 * What docs/ARCHITECTURE.md#failures promises when things go wrong, on the real RabbitMQ: a killed worker loses
 * nothing, SIGTERM lets in-flight work finish, a connection the broker closes is re-established
 * without losing messages, and a publish never succeeds silently when the broker is not there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqplib, { type Channel, type GetMessage } from 'amqplib';
import { z } from 'zod';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { readRecords, spawnRuntimeWorker, stopWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime } from '../../src/messaging/consumer.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { toClassify } from '../../src/pipeline/stages.js';

/** A vhost with the topology declared, a record file, a plain channel for checks; all removed afterwards. */
async function withWorkerSetup(
  body: (setup: { vhost: TestVhost; broker: Broker; channel: Channel; recordFile: string; workers: WorkerProcess[] }) => Promise<void>,
): Promise<void> {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  const recordDir = mkdtempSync(path.join(tmpdir(), 'ragmail-records-'));
  const workers: WorkerProcess[] = [];
  try {
    await broker.start();
    await body({ vhost, broker, channel: await connection.createChannel(), recordFile: path.join(recordDir, 'records.jsonl'), workers });
  } finally {
    await Promise.all(workers.map(stopWorker));
    await broker.close();
    await connection.close();
    await vhost.cleanup();
    rmSync(recordDir, { recursive: true, force: true });
  }
}

const describeOutput = (workers: WorkerProcess[]) => workers.map((worker) => `--- worker ${worker.pid}\n${worker.output()}`).join('\n');

/** The next message of `queue` (taken, no ack needed), waiting for it to arrive. */
async function nextMessage(channel: Channel, queue: string, timeoutMs: number, what: string): Promise<GetMessage> {
  const message = await waitFor(() => channel.get(queue, { noAck: true }), { timeoutMs, what });
  if (!message) throw new Error(`no ${what}`);
  return message;
}

test(
  'a worker killed with SIGKILL mid-message loses nothing: a second worker gets the message again and completes it exactly once',
  { timeout: 120_000 },
  async () => {
    await withWorkerSetup(async ({ vhost, broker, channel, recordFile, workers }) => {
      await broker.sendToQueue(QUEUES.toClassify, { n: 1, hang: true });
      const first = spawnRuntimeWorker(vhost.config, { recordFile, hang: true });
      workers.push(first);
      await waitFor(() => readRecords(recordFile).some((record) => record.event === 'started' && record.pid === first.pid), {
        timeoutMs: 60_000,
        what: `the first worker to start the message\n${describeOutput(workers)}`,
      });

      first.child.kill('SIGKILL');
      assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });

      const second = spawnRuntimeWorker(vhost.config, { recordFile });
      workers.push(second);
      await waitFor(() => readRecords(recordFile).some((record) => record.event === 'completed' && record.pid === second.pid), {
        timeoutMs: 60_000,
        what: `the second worker to complete the message\n${describeOutput(workers)}`,
      });

      // Stopping the second worker closes its channel: anything it had not acked would be back in the queue.
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, describeOutput([second]));
      const records = readRecords(recordFile).filter((record) => record.n === 1);
      assert.deepEqual(
        records.map((record) => [record.event, record.pid]),
        [
          ['started', first.pid],
          ['started', second.pid],
          ['completed', second.pid],
        ],
      );
      assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, 0, 'acked once, not returned');
      assert.equal((await channel.checkQueue(QUEUES.deadLetter)).messageCount, 0, 'not dead-lettered');
    });
  },
);

test('on SIGTERM a worker stops taking work, finishes its in-flight message, acks it and exits 0 within the grace time', { timeout: 120_000 }, async () => {
  await withWorkerSetup(async ({ vhost, broker, channel, recordFile, workers }) => {
    await broker.sendToQueue(QUEUES.toClassify, { n: 1, sleepMs: 1_500 });
    await broker.sendToQueue(QUEUES.toClassify, { n: 2 });
    const worker = spawnRuntimeWorker(vhost.config, { recordFile });
    workers.push(worker);
    await waitFor(() => readRecords(recordFile).some((record) => record.event === 'started' && record.n === 1), {
      timeoutMs: 60_000,
      what: `the worker to start message 1\n${describeOutput(workers)}`,
    });

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    const exitMs = Date.now() - signalledAt;
    assert.deepEqual(exit, { code: 0, signal: null }, describeOutput(workers));
    assert.ok(exitMs < vhost.config.SHUTDOWN_GRACE_MS, `exited ${exitMs} ms after SIGTERM (grace ${vhost.config.SHUTDOWN_GRACE_MS} ms)`);

    const records = readRecords(recordFile);
    const completed = records.find((record) => record.event === 'completed' && record.n === 1);
    assert.ok(completed, 'the in-flight handler finished');
    assert.ok(completed.at >= signalledAt, 'it finished after the signal, so the signal did arrive mid-message');
    assert.ok(!records.some((record) => record.n === 2), 'no new message was taken after the signal');
    assert.equal(records.at(-1)?.event, 'stopped');
    // The worker's connection is closed: an unacked message 1 would be back. Only message 2 is there.
    const leftover = await nextMessage(channel, QUEUES.toClassify, 10_000, 'message 2 still queued');
    assert.deepEqual(JSON.parse(leftover.content.toString('utf8')), { n: 2 });
    assert.equal(leftover.fields.redelivered, false, 'message 2 was never delivered');
    assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, 0, 'message 1 was acked, not returned');
  });
});

test(
  'when the broker force-closes the connection mid-stream the worker reconnects, re-asserts the topology and handles all 200 messages; only the in-flight ones twice',
  { timeout: 120_000 },
  async () => {
    const vhost = await createTestVhost();
    const consumerLogger = createLogger({ level: vhost.config.LOG_LEVEL, format: 'json', role: 'reconnecting-consumer' });
    const broker = new Broker(vhost.config, consumerLogger);
    const concurrency = 4;
    const completions = new Map<number, number>();
    const blocked = new Set<number>();
    let releaseGate: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      releaseGate = resolve;
    });
    let gateOpen = false;
    const runtime = new ConsumerRuntime(
      {
        role: 'reconnecting-consumer',
        stage: { ...toClassify, schema: z.object({ n: z.number() }) },
        concurrency,
        prefetch: concurrency,
        handle: async ({ n }) => {
          // After 50 completions the next handlers wait until the connection is gone: they are the in-flight ones.
          if (!gateOpen && completions.size >= 50) {
            blocked.add(n);
            await gate;
          } else {
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          completions.set(n, (completions.get(n) ?? 0) + 1);
          return { status: 'ok' };
        },
      },
      broker,
      consumerLogger,
      { maxAttempts: 3, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000 },
    );
    let topologyEvents = 0;
    broker.on('topology', () => {
      topologyEvents += 1;
    });
    try {
      const publisher = new Broker(vhost.config, vhost.logger);
      try {
        await publisher.start();
        await Promise.all(Array.from({ length: 200 }, (_, index) => publisher.sendToQueue(QUEUES.toClassify, { n: index + 1 })));
      } finally {
        await publisher.close();
      }
      await broker.start();
      assert.equal(topologyEvents, 1);
      runtime.start();

      await waitFor(() => blocked.size === concurrency, { timeoutMs: 30_000, what: `${concurrency} handlers waiting at the gate` });
      const connection = await waitFor(
        async () =>
          (await vhost.management.connections()).find(
            (candidate) => candidate.vhost === vhost.name && String(candidate.client_properties?.connection_name ?? '').includes('reconnecting-consumer'),
          ),
        { timeoutMs: 30_000, what: 'the consumer connection in the management API' },
      );
      if (!connection) throw new Error('no consumer connection');
      await vhost.management.closeConnection(connection.name);

      await waitFor(() => topologyEvents >= 2, { timeoutMs: 30_000, what: 'the broker to reconnect and assert the topology again' });
      assert.equal(broker.ready, true);
      gateOpen = true;
      releaseGate();

      // A redelivered message goes back to the end of the queue as a counted copy (the delivery limit):
      // the in-flight ones are handled a second time after the rest.
      await waitFor(() => completions.size === 200 && [...blocked].every((n) => completions.get(n) === 2), {
        timeoutMs: 60_000,
        what: `all 200 messages handled and the ${concurrency} in-flight ones twice (have ${completions.size})`,
      });
      for (let n = 1; n <= 200; n += 1) assert.ok(completions.has(n), `message ${n} handled`);
      const duplicates = [...completions]
        .filter(([, count]) => count > 1)
        .map(([n]) => n)
        .sort((a, b) => a - b);
      assert.deepEqual(
        duplicates,
        [...blocked].sort((a, b) => a - b),
        'exactly the messages in flight at the close were handled twice',
      );
      assert.ok([...completions.values()].every((count) => count <= 2));
    } finally {
      await runtime.stop();
      await broker.close();
      await vhost.cleanup();
    }
  },
);

test(
  'with the broker unreachable a publish rejects after PUBLISH_TIMEOUT_MS, and one beyond PUBLISH_BUFFER_LIMIT is refused at once',
  { timeout: 60_000 },
  async () => {
    const config = loadConfig({
      AMQP_URL: 'amqp://guest:guest@127.0.0.1:1',
      PUBLISH_TIMEOUT_MS: '300',
      PUBLISH_BUFFER_LIMIT: '2',
      AMQP_RECONNECT_MIN_MS: '100',
      LOG_LEVEL: 'error',
      LOG_FORMAT: 'json',
    });
    const broker = new Broker(config, createLogger({ level: 'error', format: 'json', role: 'unreachable' }));
    try {
      const started = Date.now();
      const settle = (promise: Promise<void>) =>
        promise.then(
          () => ({ resolved: true as const, at: Date.now() - started, error: undefined }),
          (error: { code?: string; retryable?: boolean }) => ({ resolved: false as const, at: Date.now() - started, error }),
        );
      const first = settle(broker.publishRaw('email_exchange', 'classify', { n: 1 }));
      const second = settle(broker.publishRaw('email_exchange', 'classify', { n: 2 }));
      const third = await settle(broker.publishRaw('email_exchange', 'classify', { n: 3 }));
      assert.equal(third.resolved, false);
      assert.equal(third.error?.code, 'publish_buffer_full');
      assert.equal(third.error?.retryable, true);
      assert.ok(third.at < 250, `refused at once (${third.at} ms), not after the publish timeout`);

      for (const outcome of await Promise.all([first, second])) {
        assert.equal(outcome.resolved, false, 'never resolves without a confirm');
        assert.equal(outcome.error?.code, 'publish_unconfirmed');
        assert.equal(outcome.error?.retryable, true);
        assert.ok(outcome.at >= 250 && outcome.at < 10_000, `rejected after about PUBLISH_TIMEOUT_MS (${outcome.at} ms)`);
      }
      // The buffer frees up as publishes fail: the next one is accepted into it (and then times out too).
      const fourth = await settle(broker.publishRaw('email_exchange', 'classify', { n: 4 }));
      assert.equal(fourth.error?.code, 'publish_unconfirmed');
    } finally {
      await broker.close();
    }
  },
);
