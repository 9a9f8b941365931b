/**
 * The consumer runtime on the real RabbitMQ: retries through the wait queues with growing delays,
 * the dead-letter record of docs/ARCHITECTURE.md#dead-letters, permanent errors and poison messages dead-lettered at
 * once, and a worker that goes on after them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib, { type Channel, type GetMessage } from 'amqplib';
import { z } from 'zod';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, type Handler, type RuntimeOptions } from '../../src/messaging/consumer.js';
import { QUEUES, waitQueueName } from '../../src/messaging/topology.js';
import { deadLetterSchema, type DeadLetterRecord } from '../../src/pipeline/messages.js';
import { permanentError } from '../../src/lib/errors.js';
import { ProviderCallError } from '../../src/providers/llm/errors.js';
import { toClassify } from '../../src/pipeline/stages.js';

const bodySchema = z.object({ n: z.number() });
type Body = z.infer<typeof bodySchema>;

/** The next message of `queue` (taken, no ack needed), waiting for it to arrive. */
async function nextMessage(channel: Channel, queue: string, timeoutMs: number, what: string): Promise<GetMessage> {
  const message = await waitFor(() => channel.get(queue, { noAck: true }), { timeoutMs, what });
  if (!message) throw new Error(`no ${what}`);
  return message;
}

interface Harness {
  vhost: TestVhost;
  broker: Broker;
  /** A plain amqplib channel on the vhost, for reading queues directly. */
  channel: Channel;
}

/** A vhost, a started Broker and a ConsumerRuntime on emails.to_classify (concurrency 1) around `body`. */
async function withRuntime(handle: Handler<Body>, body: (harness: Harness) => Promise<void>, extra: Partial<RuntimeOptions> = {}): Promise<void> {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  const runtime = new ConsumerRuntime(
    { role: 'test', stage: { ...toClassify, schema: bodySchema }, handle, concurrency: 1, prefetch: 1 },
    broker,
    vhost.logger,
    { maxAttempts: vhost.config.MAX_ATTEMPTS, retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS, shutdownGraceMs: 1_000, ...extra },
  );
  try {
    await broker.start();
    runtime.start();
    await body({ vhost, broker, channel: await connection.createChannel() });
  } finally {
    await runtime.stop();
    await broker.close();
    await connection.close();
    await vhost.cleanup();
  }
}

/** Waits for the next message in dead_letter_queue and returns it as a validated record. */
async function nextDeadLetter(channel: Channel): Promise<DeadLetterRecord> {
  const message = await nextMessage(channel, QUEUES.deadLetter, 20_000, 'record in dead_letter_queue');
  assert.equal(message.fields.routingKey, 'failed_emails');
  return deadLetterSchema.parse(JSON.parse(message.content.toString('utf8')));
}

async function readyCount(channel: Channel, queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

test(
  'a retryable failure is attempted 3 times with growing delays, then dead-lettered with retry_count 3 and the original message',
  { timeout: 60_000 },
  async () => {
    const attempts: Array<{ at: number; attempt: number }> = [];
    await withRuntime(
      async (_message, context) => {
        attempts.push({ at: Date.now(), attempt: context.attempt });
        throw new Error('upstream timed out');
      },
      async ({ vhost, broker, channel }) => {
        assert.equal(vhost.config.MAX_ATTEMPTS, 3);
        assert.equal(vhost.config.RETRY_BASE_DELAY_MS, 200);
        const sent = { n: 7 };
        await broker.publishRaw('email_exchange', 'classify', sent);

        const record = await nextDeadLetter(channel);
        assert.deepEqual(
          attempts.map((entry) => entry.attempt),
          [1, 2, 3],
          'handled exactly 3 times',
        );
        assert.equal(record.original_queue, QUEUES.toClassify);
        assert.deepEqual(record.original_message, sent);
        assert.equal(record.failure_info.retry_count, 3);
        assert.equal(record.failure_info.error_message, 'upstream timed out');
        assert.equal(record.failure_info.error_type, 'Error');

        // Delays of 200 ms then 400 ms, each jittered down by at most a quarter, plus the broker's latency.
        const firstGap = attempts[1].at - attempts[0].at;
        const secondGap = attempts[2].at - attempts[1].at;
        assert.ok(firstGap >= 140 && firstGap < 2_000, `first gap ${firstGap} ms is about 150-200 ms`);
        assert.ok(secondGap >= 290 && secondGap < 3_000, `second gap ${secondGap} ms is about 300-400 ms`);
        assert.ok(secondGap > firstGap, `the gaps grow: ${firstGap} ms then ${secondGap} ms`);

        // Nothing is left anywhere that could bring the message back for a fourth attempt.
        for (const queue of [QUEUES.toClassify, waitQueueName(QUEUES.toClassify, 200), waitQueueName(QUEUES.toClassify, 400), QUEUES.deadLetter]) {
          assert.equal(await readyCount(channel, queue), 0, `${queue} is empty`);
        }
        assert.equal(attempts.length, 3);
      },
    );
  },
);

test(
  "an error asking for a pause (a provider's retry-after) waits in a wait queue long enough for it, not the attempt's own",
  { timeout: 60_000 },
  async () => {
    const attempts: number[] = [];
    await withRuntime(
      async () => {
        attempts.push(Date.now());
        // Asks for 350 ms: more than the first wait (200 ms), within the second (400 ms).
        throw new ProviderCallError('gemini quota exhausted; retry after 0.35s', { code: 'llm_quota', retryable: true, status: 429, retryAfterMs: 350 });
      },
      async ({ broker, channel }) => {
        await broker.publishRaw('email_exchange', 'classify', { n: 8 });
        await nextDeadLetter(channel);
        assert.equal(attempts.length, 3);
        const firstGap = attempts[1] - attempts[0];
        assert.ok(firstGap >= 345, `the first retry waited the 350 ms asked for, not 150-200 ms: ${firstGap} ms`);
        assert.ok(firstGap < 2_000, `and not much longer: ${firstGap} ms`);
      },
    );
  },
);

test(
  'every model down for a while: the role pauses, messages wait in the queue with their attempts uncounted, and all are handled once it is back',
  { timeout: 60_000 },
  async () => {
    const outageUntil = Date.now() + 1_500;
    const calls: Array<{ n: number; attempt: number; down: boolean }> = [];
    const handled = new Set<number>();
    await withRuntime(
      async (message, context) => {
        const down = Date.now() < outageUntil;
        calls.push({ n: message.n, attempt: context.attempt, down });
        if (down)
          throw new ProviderCallError('every language model failed: gemini: HTTP 429; anthropic: timeout', { code: 'llm_unavailable', retryable: true });
        handled.add(message.n);
        return { status: 'done' };
      },
      async ({ broker, channel }) => {
        for (let n = 1; n <= 6; n += 1) await broker.publishRaw('email_exchange', 'classify', { n });
        await waitFor(() => handled.size === 6, { timeoutMs: 20_000, what: 'all six handled after the outage' });
        assert.ok(
          calls.every((call) => call.attempt === 1),
          `no attempt was counted: ${JSON.stringify(calls)}`,
        );
        const duringOutage = calls.filter((call) => call.down).length;
        // Without the pause each message would be tried 3 times within the 1.5 s (18 calls) and end
        // dead-lettered; paused, it takes a probe after 0.2, 0.6, 1.0 and 1.4 s, plus what was in flight.
        assert.ok(duringOutage <= 10, `the paused role tried only a few messages during the outage: ${duringOutage}`);
        assert.equal(await readyCount(channel, QUEUES.deadLetter), 0, 'nothing dead-lettered');
      },
      { outage: { limitMs: 60_000, basePauseMs: 200, maxPauseMs: 400, maxHolds: 10 } },
    );
  },
);

test('an outage longer than its limit is failed as usual: retried, then dead-lettered with the reason', { timeout: 60_000 }, async () => {
  let calls = 0;
  await withRuntime(
    async () => {
      calls += 1;
      throw new ProviderCallError('every language model failed', { code: 'llm_unavailable', retryable: true });
    },
    async ({ broker, channel }) => {
      await broker.publishRaw('email_exchange', 'classify', { n: 9 });
      const record = await nextDeadLetter(channel);
      assert.equal(record.failure_info.error_type, 'llm_unavailable');
      assert.equal(record.failure_info.retry_count, 3);
      assert.ok(calls >= 4, `held at first, then its 3 attempts: ${calls} calls`);
    },
    { outage: { limitMs: 600, basePauseMs: 200, maxPauseMs: 200, maxHolds: 10 } },
  );
});

test('a permanent error is dead-lettered after one attempt, with its code as error_type', { timeout: 60_000 }, async () => {
  const attempts: number[] = [];
  await withRuntime(
    async (message, context) => {
      attempts.push(context.attempt);
      throw permanentError('customer_unknown', `no customer for message ${message.n}`);
    },
    async ({ broker, channel }) => {
      await broker.sendToQueue(QUEUES.toClassify, { n: 11 });
      const record = await nextDeadLetter(channel);
      assert.deepEqual(attempts, [1]);
      assert.equal(record.failure_info.retry_count, 1);
      assert.equal(record.failure_info.error_type, 'customer_unknown');
      assert.equal(record.failure_info.error_message, 'no customer for message 11');
      assert.deepEqual(record.original_message, { n: 11 });
      assert.equal(record.original_queue, QUEUES.toClassify);
      assert.equal(await readyCount(channel, waitQueueName(QUEUES.toClassify, 200)), 0, 'never parked for a retry');
    },
  );
});

test('a non-JSON body and a schema-invalid body are dead-lettered at once with the validation error, and the worker goes on', { timeout: 60_000 }, async () => {
  const handled: number[] = [];
  await withRuntime(
    async (message) => {
      handled.push(message.n);
      return { status: 'ok' };
    },
    async ({ broker, channel }) => {
      channel.sendToQueue(QUEUES.toClassify, Buffer.from('{"n": 1, "card": "4111 1111 1111 1111",'), {
        persistent: true,
        contentType: 'application/json',
        messageId: 'not-json',
      });
      await broker.sendToQueue(QUEUES.toClassify, { n: 'two' }, { messageId: 'bad-schema' });
      await broker.sendToQueue(QUEUES.toClassify, { n: 3 }, { messageId: 'valid' });

      const first = await nextDeadLetter(channel);
      const second = await nextDeadLetter(channel);
      const byType = new Map([first, second].map((record) => [record.failure_info.error_type, record]));

      const notJson = byType.get('invalid_json');
      assert.ok(notJson, `an invalid_json record among ${[...byType.keys()].join(', ')}`);
      assert.match(notJson.failure_info.error_message, /not JSON/);
      assert.equal(notJson.failure_info.retry_count, 0);
      assert.equal(notJson.original_message, '{"n": 1, "card": "[card number removed]",', 'the raw body is kept, redacted whole');

      const invalid = byType.get('schema_invalid');
      assert.ok(invalid, `a schema_invalid record among ${[...byType.keys()].join(', ')}`);
      assert.match(invalid.failure_info.error_message, /\bn: /, 'the error names the bad field');
      assert.equal(invalid.failure_info.retry_count, 0);
      assert.deepEqual(invalid.original_message, { n: 'two' });

      await waitFor(() => handled.includes(3), { timeoutMs: 20_000, what: 'the valid message to be handled' });
      assert.deepEqual(handled, [3], 'only the valid message reached the handler');
      assert.equal(await readyCount(channel, waitQueueName(QUEUES.toClassify, 200)), 0, 'poison is never retried');
    },
  );
});

/** Identifiers shaped like card numbers (16 digits passing Luhn): a replay needs them exactly as they were. */
const CARD_SHAPED_IDS = {
  email_id: '<4111111111111111@mail.example>',
  message_id_header: '<4111111111111111@mail.example>',
  thread_id: '<5500000000000004@mail.example>',
  references: ['<5500000000000004@mail.example>'],
  from: 'customer+4111111111111111@example.com',
  reply_recipient: 'customer+4111111111111111@example.com',
  mailbox_ref: '4111111111111111.eml',
};

test(
  'a dead-letter record is redacted as log lines are: no card number or password from the email, no URL password in the error, no absolute file path in the stack',
  { timeout: 60_000 },
  async () => {
    await withRuntime(
      async () => {
        throw permanentError('login_failed', 'could not log in to amqp://bob:s3cret-pass@mail.example.com with password: hunter2secret');
      },
      async ({ broker, channel }) => {
        const text = 'Hello, my card is 4111 1111 1111 1111 and my password: hunter2secret, order 123456.';
        const passage = { document_id: 'doc-4111111111111111', source: '4111111111111111.pdf', page: 3, text: 'Card 5500 0000 0000 0004 is the test card.' };
        await broker.publishRaw('email_exchange', 'classify', {
          n: 5,
          email: { ...CARD_SHAPED_IDS, body: text, subject: 'api_key=sk-ant-abcdefghijklmnopqrstuvwx' },
          classification: { category: 'billing', reasoning: 'the customer gave card 4111 1111 1111 1111' },
          generated_response: { subject: 'Re: card 4111 1111 1111 1111', body: 'Your password: hunter2secret is reset.' },
          context_used: [passage],
        });
        const record = await nextDeadLetter(channel);
        const serialized = JSON.stringify(record);
        for (const secret of ['4111 1111 1111 1111', '5500 0000 0000 0004', 'hunter2secret', 's3cret-pass', 'sk-ant-abcdefghijklmnopqrstuvwx']) {
          assert.ok(!serialized.includes(secret), `the record does not contain ${secret}`);
        }
        assert.deepEqual(
          record.original_message,
          {
            n: 5,
            email: {
              ...CARD_SHAPED_IDS,
              body: 'Hello, my card is [card number removed] and my password: [password removed], order 123456.',
              subject: 'api_key=[secret removed]',
            },
            classification: { category: 'billing', reasoning: 'the customer gave card [card number removed]' },
            generated_response: { subject: 'Re: card [card number removed]', body: 'Your password: [password removed] is reset.' },
            context_used: [{ ...passage, text: 'Card [card number removed] is the test card.' }],
          },
          'free texts redacted; ids, Message-IDs, addresses, names and numbers kept exactly',
        );
        assert.equal(record.failure_info.error_message, 'could not log in to amqp://bob:***@mail.example.com with password: [password removed]');
        assert.equal(record.failure_info.error_type, 'login_failed');
        const stack = record.failure_info.stack_trace ?? '';
        assert.match(stack, /^RagmailError: could not log in to amqp:\/\/bob:\*\*\*@/, 'the stack starts with the redacted message');
        assert.match(stack, /\(test\/integration\/consumer-runtime\.test\.ts:\d+:\d+\)/, 'frames keep their place in the project');
        assert.doesNotMatch(stack, /(^|[\s(])(file:\/\/)?\/[^\s]/m, 'no absolute path or file URL anywhere in the stack');
      },
    );
  },
);

test(
  'a dead-lettered approved reply keeps the reply text the reviewer approved (the sender checks it byte for byte) while the email itself is redacted',
  { timeout: 60_000 },
  async () => {
    await withRuntime(
      async () => {
        throw permanentError('daily_quota_exhausted', 'the daily quota is used; the approved reply waits');
      },
      async ({ broker, channel }) => {
        const reply = { subject: 'Re: your account', body: 'Log in with password: Welcome-2024 and change it.' };
        await broker.publishRaw('email_exchange', 'classify', {
          n: 6,
          email: { ...CARD_SHAPED_IDS, subject: 'account', body: 'My card 4111 1111 1111 1111 was charged twice.' },
          generated_response: reply,
          review: { approved_by: 'alice', approved_at: '2026-01-01T00:00:00.000Z', edited: true },
        });
        const record = await nextDeadLetter(channel);
        const original = record.original_message as { email: Record<string, unknown>; generated_response: unknown };
        assert.deepEqual(original.generated_response, reply);
        assert.equal(original.email.body, 'My card [card number removed] was charged twice.');
        assert.equal(original.email.email_id, CARD_SHAPED_IDS.email_id);
      },
    );
  },
);
