/**
 * The broker ceiling, the reference every other figure is divided by: persistent messages
 * published with confirms and consumed with manual acks through one durable queue, with plain
 * amqplib and nothing of ragmail in between. One hop = one message published, confirmed by the
 * broker, delivered to the consumer and acked.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { withBenchVhost } from './bench-vhost.js';
import { median } from './stats.js';

/** Options of {@link measureCeiling}. */
export interface CeilingOptions {
  /** Messages per run. */
  messages: number;
  /** Measured runs (one unmeasured warm-up run comes first). */
  runs: number;
  /** Publishes in flight before waiting for their confirms; also the consumer's prefetch. */
  window: number;
  /** Body size in bytes (about that of an `emails.to_classify` message). */
  bodyBytes: number;
}

export const DEFAULT_CEILING_OPTIONS: CeilingOptions = { messages: 5_000, runs: 5, window: 256, bodyBytes: 1_000 };

/** The ceiling's figures: hops per second of each run and their median. */
export interface CeilingResult {
  options: CeilingOptions;
  hopsPerSecond: number[];
  medianHopsPerSecond: number;
}

/** One run on `url`'s vhost: a fresh durable queue, deleted afterwards. */
async function oneRun(url: string, options: CeilingOptions): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const publisher = await connection.createConfirmChannel();
    const consumer = await connection.createChannel();
    const queue = `bench.ceiling.${randomUUID()}`;
    await publisher.assertQueue(queue, { durable: true });
    await consumer.prefetch(options.window);
    const body = Buffer.from(JSON.stringify({ email_id: 'x'.repeat(40), body: 'y'.repeat(Math.max(0, options.bodyBytes - 60)) }));
    let received = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.consume(queue, (message) => {
        if (!message) return;
        consumer.ack(message);
        if (++received === options.messages) resolve();
      });
    });
    const started = process.hrtime.bigint();
    for (let sent = 0; sent < options.messages; sent += options.window) {
      const batch = Math.min(options.window, options.messages - sent);
      for (let index = 0; index < batch; index++) {
        publisher.publish('', queue, body, { persistent: true, contentType: 'application/json' });
      }
      await publisher.waitForConfirms();
    }
    await done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await publisher.deleteQueue(queue);
    return options.messages / seconds;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Measures the ceiling on the vhost of `url` (which must exist): a warm-up, then `runs` runs. */
export async function measureCeiling(url: string, overrides: Partial<CeilingOptions> = {}): Promise<CeilingResult> {
  const options = { ...DEFAULT_CEILING_OPTIONS, ...overrides };
  await oneRun(url, { ...options, messages: Math.min(options.messages, 2_000) });
  const hopsPerSecond: number[] = [];
  for (let run = 0; run < options.runs; run++) hopsPerSecond.push(await oneRun(url, options));
  return { options, hopsPerSecond, medianHopsPerSecond: median(hopsPerSecond) };
}

/** The definition printed under every table that quotes the ceiling. */
export const HOP_DEFINITION = 'hop = one persistent message published with a publisher confirm, delivered, handled and acked';

/** The ceiling as the reference of another benchmark: measured on a vhost of its own, in the same run. */
export async function measureReference(runs: number, messages: number): Promise<CeilingResult> {
  return withBenchVhost('ceiling', (vhost) => measureCeiling(vhost.amqpUrl, { runs, messages }));
}
