/**
 * The delivery limit on the real RabbitMQ: a message that kills its worker is redelivered to the
 * restarted worker, counted, and after MAX_DELIVERIES dead-lettered as `delivery_limit_exceeded`
 * while the other messages are handled; and a graceful shutdown hands back the messages it never
 * started without a count, so restarts do not push them towards the limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqplib from 'amqplib';
import { z } from 'zod';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { readRecords, spawnRuntimeWorker, stopWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, DELIVERIES_HEADER } from '../../src/messaging/consumer.js';
import { deadLetterSchema } from '../../src/pipeline/messages.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { toClassify } from '../../src/pipeline/stages.js';

test(
  'a message that kills its worker is dead-lettered as delivery_limit_exceeded after MAX_DELIVERIES deliveries, and the other messages are handled',
  { timeout: 180_000 },
  async () => {
    const vhost = await createTestVhost({ MAX_DELIVERIES: '3' });
    const broker = new Broker(vhost.config, vhost.logger);
    const connection = await amqplib.connect(vhost.config.AMQP_URL);
    const recordDir = mkdtempSync(path.join(tmpdir(), 'ragmail-records-'));
    const recordFile = path.join(recordDir, 'records.jsonl');
    const workers: WorkerProcess[] = [];
    const output = () => workers.map((worker) => `--- worker ${worker.pid}\n${worker.output()}`).join('\n');
    try {
      await broker.start();
      const channel = await connection.createChannel();
      await broker.publishRaw('email_exchange', 'classify', { n: 1, crash: true });
      await broker.publishRaw('email_exchange', 'classify', { n: 2 });
      await broker.publishRaw('email_exchange', 'classify', { n: 3 });

      // A supervisor's restart loop (Docker's restart policy, a Kubernetes Deployment), bounded:
      // without a delivery limit it would go on for ever.
      const deadLettered = async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount > 0;
      for (let restarts = 0; !(await deadLettered()); restarts += 1) {
        assert.ok(restarts < 8, `still not dead-lettered after ${restarts} restarts\n${output()}`);
        const worker = spawnRuntimeWorker(vhost.config, { recordFile });
        workers.push(worker);
        await Promise.race([worker.exited, waitFor(deadLettered, { timeoutMs: 60_000, what: 'a crash or the dead letter' }).catch(() => undefined)]);
      }
      const survivor = workers.at(-1)!;
      await waitFor(() => [2, 3].every((n) => readRecords(recordFile).some((record) => record.event === 'completed' && record.n === n)), {
        timeoutMs: 60_000,
        what: `messages 2 and 3 handled\n${output()}`,
      });
      assert.equal(survivor.child.exitCode, null, 'the last worker is still running');

      const message = await channel.get(QUEUES.deadLetter, { noAck: true });
      assert.ok(message);
      const record = deadLetterSchema.parse(JSON.parse(message.content.toString('utf8')));
      assert.equal(record.failure_info.error_type, 'delivery_limit_exceeded');
      assert.equal(record.failure_info.error_message, 'redelivered 3 times: its worker died or lost the broker while handling it');
      assert.deepEqual(record.original_message, { n: 1, crash: true });
      assert.equal(record.original_queue, QUEUES.toClassify);
      const crashes = workers.slice(0, -1).map((worker) => worker.child.exitCode);
      assert.deepEqual(crashes, [70, 70, 70], 'three workers died on it (MAX_DELIVERIES=3), the fourth dead-lettered it');
      assert.equal(readRecords(recordFile).filter((entry) => entry.event === 'started' && entry.n === 1).length, 3, 'handled three times, not more');

      survivor.child.kill('SIGTERM');
      assert.equal((await survivor.exited).code, 0, output());
      assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, 0, 'nothing left in the work queue');
    } finally {
      await Promise.all(workers.map(stopWorker));
      await broker.close();
      await connection.close();
      await vhost.cleanup();
      rmSync(recordDir, { recursive: true, force: true });
    }
  },
);

test('a graceful shutdown hands back the messages it never started unflagged and uncounted; the one it started is finished', { timeout: 60_000 }, async () => {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  const started: number[] = [];
  const runtime = new ConsumerRuntime(
    {
      role: 'graceful',
      stage: { ...toClassify, schema: z.object({ n: z.number() }) },
      concurrency: 1,
      prefetch: 3,
      handle: async ({ n }) => {
        started.push(n);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return { status: 'ok' };
      },
    },
    broker,
    vhost.logger,
    { maxAttempts: 3, retryBaseDelayMs: 200, shutdownGraceMs: 5_000, maxDeliveries: 5 },
  );
  try {
    await broker.start();
    for (const n of [1, 2, 3]) await broker.publishRaw('email_exchange', 'classify', { n });
    runtime.start();
    await waitFor(() => started.length === 1, { what: 'the first message started' });
    // The other two are prefetched by now, waiting for the one slot.
    const channel = await connection.createChannel();
    await waitFor(async () => (await channel.checkQueue(QUEUES.toClassify)).messageCount === 0, { what: 'all three prefetched' });
    await runtime.stop();
    assert.deepEqual(started, [1], 'only the first was started');

    const returned = [];
    for (let index = 0; index < 2; index += 1) {
      const message = await waitFor(() => channel.get(QUEUES.toClassify, { noAck: true }), { what: `returned message ${index + 1}` });
      if (!message) throw new Error('no returned message');
      returned.push({
        n: (JSON.parse(message.content.toString('utf8')) as { n: number }).n,
        redelivered: message.fields.redelivered,
        deliveries: message.properties.headers?.[DELIVERIES_HEADER],
      });
    }
    assert.deepEqual(
      returned.sort((a, b) => a.n - b.n),
      [
        { n: 2, redelivered: false, deliveries: undefined },
        { n: 3, redelivered: false, deliveries: undefined },
      ],
      'handed back as they were: a redelivered flag would count them as lost deliveries',
    );
    assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, 0, 'the first was acked, not returned');
  } finally {
    await runtime.stop();
    await broker.close();
    await connection.close();
    await vhost.cleanup();
  }
});
