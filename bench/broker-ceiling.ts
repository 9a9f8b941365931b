/**
 * Broker ceiling, the reference for every other figure: persistent publish-with-confirms plus
 * manual-ack consume through one queue, with plain amqplib, in hops per second (one hop = one
 * message published, confirmed, delivered and acked). Runs on a vhost of its own.
 *
 *   npx tsx bench/broker-ceiling.ts [--messages 5000] [--runs 5] [--window 256]
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { ManagementClient } from '../src/messaging/management.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '5000' }, runs: { type: 'string', default: '5' }, window: { type: 'string', default: '256' } } });
const messages = Number(values.messages);
const runs = Number(values.runs);
const window = Number(values.window);
const base = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const management = new ManagementClient({ AMQP_URL: base, RABBITMQ_MANAGEMENT_URL: process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672' });

async function oneRun(url: string): Promise<number> {
  const connection = await amqp.connect(url);
  const publisher = await connection.createConfirmChannel();
  const consumer = await connection.createChannel();
  const queue = `bench.${randomUUID()}`;
  await publisher.assertQueue(queue, { durable: true });
  await consumer.prefetch(window);
  const body = Buffer.from(JSON.stringify({ email_id: 'x'.repeat(40), body: 'y'.repeat(1_000) }));
  let received = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.consume(queue, (message) => {
      if (!message) return;
      consumer.ack(message);
      if (++received === messages) resolve();
    });
  });
  const started = process.hrtime.bigint();
  for (let sent = 0; sent < messages; sent += window) {
    const batch = Math.min(window, messages - sent);
    for (let index = 0; index < batch; index++) {
      publisher.publish('', queue, body, { persistent: true, contentType: 'application/json' });
    }
    await publisher.waitForConfirms();
  }
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await publisher.deleteQueue(queue);
  await connection.close();
  return messages / seconds;
}

const vhost = `bench-${randomUUID()}`;
await management.request('PUT', `vhosts/${encodeURIComponent(vhost)}`, {});
await management.request('PUT', `permissions/${encodeURIComponent(vhost)}/guest`, { configure: '.*', write: '.*', read: '.*' });
try {
  const url = `${base}/${encodeURIComponent(vhost)}`;
  await oneRun(url); // warm-up
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) rates.push(await oneRun(url));
  const sorted = [...rates].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(JSON.stringify({ bench: 'broker-ceiling', messages, runs, window, hops_per_second_median: Math.round(median), runs_hops_per_second: rates.map(Math.round) }));
  console.log(`\nbroker ceiling: ${Math.round(median)} hops/s median of ${runs} runs (${messages} persistent messages each, confirms in windows of ${window})`);
} finally {
  await management.request('DELETE', `vhosts/${encodeURIComponent(vhost)}`).catch(() => undefined);
}
