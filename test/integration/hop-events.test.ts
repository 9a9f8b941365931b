/**
 * The hops feed the audit stream (src/messaging/events.ts, publishHop): on the real RabbitMQ, a
 * replied email puts one message per hop into `events.audit`, each carrying its stage's events in
 * its header and coming back to the stream consumer with the exchange and routing key it was
 * published with; only `sent` is an event of its own. The activity log holds the same stages as
 * when every stage published an event. A hop replayed from the dead-letter queue comes without the
 * events header (recorded once), and retry copies never reach the stream. Events too large for
 * the header are published on `events` after their hop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib, { type ConsumeMessage } from 'amqplib';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { startWorker } from '../../src/app/worker.js';
import { permanentError, transientError } from '../../src/lib/errors.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime } from '../../src/messaging/consumer.js';
import { replayDeadLetters } from '../../src/messaging/dead-letters.js';
import { readEventDelivery } from '../../src/messaging/event-delivery.js';
import { HOP_EVENTS_HEADER, HOP_EVENTS_HEADER_LIMIT, PIPELINE_EVENT, publishHop } from '../../src/messaging/events.js';
import { EXCHANGES, QUEUES } from '../../src/messaging/topology.js';
import { toClassify, toSend } from '../../src/pipeline/stages.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import {
  ACME,
  GLOBEX,
  SAMPLES,
  classifyMessage,
  deliverEmail,
  ingestSampleManuals,
  sendMessage,
  startPipeline,
  waitForFinalStates,
} from '../helpers/pipeline.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** Every message of `events.audit` from its first, as an AMQP 0-9-1 stream consumer gets it, until none came for `quietMs`. */
async function readStream(amqpUrl: string, quietMs = 1_500): Promise<ConsumeMessage[]> {
  const connection = await amqplib.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(1_000);
    const messages: ConsumeMessage[] = [];
    let last = Date.now();
    await channel.consume(
      QUEUES.audit,
      (message) => {
        if (!message) return;
        messages.push(message);
        last = Date.now();
        channel.ack(message);
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
    await waitFor(() => Date.now() - last > quietMs, { timeoutMs: 60_000, intervalMs: 100, what: 'the stream read to its end' });
    return messages;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Whether a stream message concerns `emailId`: a hop's body names it, an event's body too. */
function concerns(message: ConsumeMessage, emailId: string): boolean {
  const body = JSON.parse(message.content.toString('utf8')) as { email_id?: unknown; email?: { email_id?: unknown } };
  return body.email_id === emailId || body.email?.email_id === emailId;
}

/** `exchange/key: stages` of a stream message, the stages being those its events header carries. */
function described(message: ConsumeMessage): string {
  const header = message.properties.headers?.[HOP_EVENTS_HEADER] as string | undefined;
  const stages = header
    ? (JSON.parse(header) as Array<{ stage: string }>).map((event) => event.stage)
    : [(JSON.parse(message.content.toString('utf8')) as { stage?: string }).stage ?? '(no events)'];
  return `${message.fields.exchange}/${message.fields.routingKey}: ${stages.join('+')}`;
}

test(
  'a replied email is 4 messages in events.audit, one per hop carrying its events plus sent, and the activity log has the stages it always had',
  { timeout: 240_000 },
  async () => {
    const pipeline = await startPipeline(ROLE_NAMES, { SEND_POLICY: 'auto' });
    try {
      await ingestSampleManuals(pipeline);
      // The thermostat manual answers the battery question on one page: its reply is sent.
      const file = 'battery.eml';
      const { email } = await deliverEmail(pipeline, GLOBEX, await readFile(path.join(SAMPLES, 'emails', GLOBEX, file)), file);
      const summary = (await waitForFinalStates(pipeline, [email.email_id])).get(email.email_id)!;
      assert.equal(summary.state, 'sent', `the sample is answered (${summary.outcome ?? ''})`);

      const mine = (await readStream(pipeline.vhost.config.AMQP_URL)).filter((message) => concerns(message, email.email_id));
      assert.deepEqual(mine.map(described), [
        'email_exchange/classify: received',
        'email_exchange/respond: classified',
        'reply_exchange/send: retrieved+replied',
        'events/email.sent: sent',
      ]);

      // Read as the recorder reads them: every event vouched for, received with the hop's body as its message.
      const read = mine.flatMap((message) => readEventDelivery(message));
      const problems = read.flatMap((one) => ('problem' in one ? [one.problem] : []));
      assert.deepEqual(problems, []);
      const events = read.flatMap((one) => ('event' in one ? [one.event] : []));
      const received = events.find((event) => event.stage === 'received')!;
      assert.deepEqual(received.detail.message, JSON.parse(mine[0]!.content.toString('utf8')), 'received.detail.message is the classify hop');
      assert.equal(
        Buffer.byteLength(String(mine[0]!.properties.headers?.[HOP_EVENTS_HEADER])) < mine[0]!.content.length,
        true,
        'the header does not hold the email a second time',
      );

      const timeline = await pipeline.activity.timeline(email.email_id);
      assert.deepEqual(
        timeline.map((event) => event.stage),
        ['received', 'classified', 'retrieved', 'replied', 'sent'],
      );
      assert.deepEqual(
        timeline.map((event) => event.event_id),
        events.map((event) => event.event_id),
        'the activity log holds the events the stream carries',
      );
      const recorded = timeline.find((event) => event.stage === 'received')!;
      assert.equal(recorded.detail.subject, email.subject, "received's headline is recorded");
    } finally {
      await pipeline.close();
    }
  },
);

test(
  'retry copies of a hop do not reach the stream, and the hop replayed from the dead-letter queue carries no events: received is recorded once',
  { timeout: 120_000 },
  async () => {
    const vhost = await createTestVhost();
    const broker = new Broker(vhost.config, vhost.logger);
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      await broker.start();
      // A classifier that fails once retryably (a copy through the retry exchange and a wait queue), then for good.
      let attempts = 0;
      const failing = new ConsumerRuntime(
        {
          role: 'classifier',
          stage: toClassify,
          concurrency: 1,
          prefetch: 1,
          handle: async () => {
            attempts += 1;
            throw attempts === 1 ? transientError('model_busy', 'the model is busy') : permanentError('model_refused', 'the model refused');
          },
        },
        broker,
        vhost.logger,
        { maxAttempts: 2, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000 },
      );
      failing.start();
      // The poller's hop as it publishes it, with its `received`.
      const publishReceived = async (subject: string, options: { expirationMs?: number } = {}) => {
        const message = await classifyMessage(ACME, makeEmail({ to: ACME, subject }));
        const emailId = message.email.email_id;
        const detail = { from: 'c@x', subject, received_at: message.timestamp, priority: 5, message };
        await publishHop(broker, 'poller', toClassify, message, [{ stage: 'received', email_id: emailId, agent_email: ACME, detail }], options);
        return emailId;
      };
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      const channel = await connection.createChannel();
      const deadLetters = (count: number) =>
        waitFor(async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount === count, { timeoutMs: 20_000, what: `${count} dead letters` });
      // One dead-lettered by the runtime (its record wraps the original), after a retry copy.
      const failed = await publishReceived('Retried, dead-lettered, replayed');
      await deadLetters(1);
      await failing.stop();
      assert.equal(attempts, 2);
      // One dead-lettered by the broker (expired, nobody consuming): its headers, events header included, come along.
      const expired = await publishReceived('Expired, replayed', { expirationMs: 1 });
      await deadLetters(2);
      await connection.close();

      worker = await startWorker(['recorder'], vhost.config, vhost.logger);
      const activity = new ActivityLog(await worker.services.database());
      const outcome = await replayDeadLetters({ config: vhost.config, broker }, () => true);
      assert.equal(outcome.done.length, 2);
      for (const emailId of [failed, expired]) {
        await waitFor(async () => (await activity.timeline(emailId)).some((event) => event.stage === 'replayed'), {
          timeoutMs: 30_000,
          what: 'the replay recorded',
        });
      }

      const stream = await readStream(vhost.config.AMQP_URL);
      for (const emailId of [failed, expired]) {
        const hops = stream.filter((delivery) => delivery.fields.exchange === EXCHANGES.email && concerns(delivery, emailId));
        assert.deepEqual(
          hops.map((hop) => [hop.fields.routingKey, typeof hop.properties.headers?.[HOP_EVENTS_HEADER]]),
          [
            ['classify', 'string'],
            ['classify', 'undefined'],
          ],
          'the first publish with its event, the replay without; no retry copy',
        );
        const stages = (await activity.timeline(emailId)).map((event) => event.stage);
        assert.deepEqual(
          stages.filter((stage) => stage === 'received'),
          ['received'],
          `timeline ${stages.join(', ')}`,
        );
      }
    } finally {
      await worker?.stop();
      await broker.close();
      await vhost.cleanup();
    }
  },
);

test('events too large for the header go on events instead, after their hop: both read back, nothing refused', { timeout: 60_000 }, async () => {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  try {
    await broker.start();
    const message = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'A long reply' }));
    const emailId = message.email.email_id;
    const seen: string[] = [];
    broker.on(PIPELINE_EVENT, (event: { stage: string }) => seen.push(event.stage));
    const decision = message.generated_response.decision!;
    await publishHop(broker, 'responder', toSend, message, [
      { stage: 'retrieved', email_id: emailId, agent_email: ACME, detail: { top_score: 0.9, chunks: [] } },
      // Far beyond what the responder writes (its excerpt is cut at 280 characters).
      {
        stage: 'replied',
        email_id: emailId,
        agent_email: ACME,
        detail: { handoff: false, decision, excerpt: 'x'.repeat(HOP_EVENTS_HEADER_LIMIT), citations: [] },
      },
    ]);
    assert.deepEqual(seen, ['retrieved', 'replied'], 'PIPELINE_EVENT for each, once confirmed');
    const stream = await readStream(vhost.config.AMQP_URL, 800);
    assert.deepEqual(stream.map(described), ['reply_exchange/send: (no events)', 'events/email.retrieved: retrieved', 'events/email.replied: replied']);
    const read = stream.flatMap((delivery) => readEventDelivery(delivery));
    assert.deepEqual(
      read.map((one) => ('event' in one ? one.event.stage : one.problem)),
      ['retrieved', 'replied'],
    );
  } finally {
    await broker.close();
    await vhost.cleanup();
  }
});
