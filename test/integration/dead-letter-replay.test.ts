/**
 * A replayed dead letter is the same email to the pipeline: the record's redaction removes secrets
 * from the texts but keeps email_id and the Message-ID even when they look like card numbers, so
 * the sender's duplicate check finds the reply already sent and the customer gets one reply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import amqplib from 'amqplib';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, type SettledInfo } from '../../src/messaging/consumer.js';
import { replayDeadLetters } from '../../src/messaging/dead-letters.js';
import { QUEUES, WORK_QUEUES } from '../../src/messaging/topology.js';
import { permanentError } from '../../src/lib/errors.js';
import { startWorker } from '../../src/app/worker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { filesIn, sendMessage } from '../helpers/pipeline.js';
import { toSend } from '../../src/pipeline/stages.js';
import { emailIdOf } from '../../src/pipeline/messages.js';

const MAILBOX = 'support@acme.example';
/** Where an `emails.to_send` message is published (the topology's own entry, so the test follows it). */
const TO_SEND = WORK_QUEUES.find((queue) => queue.name === QUEUES.toSend)!;
/** 16 digits that pass Luhn: the log redaction takes them for a card number wherever they stand in a text. */
const CARD_SHAPED_MESSAGE_ID = '<4111111111111111@mail.example>';
/** The email_id the poller makes of it: of the mailbox and the Message-ID without its brackets. */
const CARD_SHAPED_EMAIL_ID = emailIdOf(MAILBOX, '4111111111111111@mail.example');

test(
  'a dead-lettered emails.to_send message with a card-shaped Message-ID, replayed, keeps its email_id: the sender finds the reply already sent and sends no second one',
  { timeout: 120_000 },
  async () => {
    const vhost = await createTestVhost({ SEND_POLICY: 'auto' });
    const broker = new Broker(vhost.config, vhost.logger);
    let brokerOpen = false;
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const message = await sendMessage(
        MAILBOX,
        makeEmail({ to: MAILBOX, messageId: CARD_SHAPED_MESSAGE_ID, subject: 'Double charge', body: 'My card 4111 1111 1111 1111 was charged twice.\n' }),
      );
      assert.deepEqual([message.email.email_id, message.email.message_id_header], [CARD_SHAPED_EMAIL_ID, CARD_SHAPED_MESSAGE_ID]);

      // One copy of the reply fails in a sender whose mailbox is down, and ends in dead_letter_queue.
      await broker.start();
      brokerOpen = true;
      const failing = new ConsumerRuntime(
        {
          role: 'sender',
          stage: toSend,
          concurrency: 1,
          prefetch: 1,
          handle: async () => {
            throw permanentError('mailbox_unavailable', 'the mailbox refused the connection');
          },
        },
        broker,
        vhost.logger,
        { maxAttempts: 1, retryBaseDelayMs: 100, shutdownGraceMs: 1_000 },
      );
      failing.start();
      await broker.publishRaw(TO_SEND.exchange, TO_SEND.routingKey, message);
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      const channel = await connection.createChannel();
      await waitFor(async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount === 1, { timeoutMs: 20_000, what: 'the dead letter' });
      await connection.close();
      await failing.stop();
      await broker.close();

      // Another copy (a redelivery) reaches the real sender and is sent.
      worker = await startWorker(['sender'], vhost.config, vhost.logger);
      const settled: SettledInfo[] = [];
      worker.roles.find((role) => role.name === 'sender')!.runtime!.on('settled', (info: SettledInfo) => settled.push(info));
      await worker.broker.publishRaw(TO_SEND.exchange, TO_SEND.routingKey, message);
      await waitFor(() => settled.length >= 1, { timeoutMs: 30_000, what: 'the first copy sent' });
      assert.equal(settled[0]!.status, 'sent');
      const outbox = () => filesIn(path.join(vhost.config.MAILDIR_ROOT, MAILBOX, 'outbox'), '.eml');
      assert.equal((await outbox()).length, 1);

      // The operator replays the dead letter: it must be recognised as the email already answered.
      const outcome = await replayDeadLetters({ config: vhost.config, broker: worker.broker }, () => true);
      assert.deepEqual(outcome.failed, []);
      assert.equal(outcome.done.length, 1);
      await waitFor(() => settled.length >= 2, { timeoutMs: 30_000, what: 'the replayed copy handled' });
      assert.equal(settled[1]!.status, 'duplicate', `sender statuses ${settled.map((info) => info.status).join(', ')}`);
      assert.equal((await outbox()).length, 1, 'one reply in the outbox');
      const replayed = outcome.done[0]!.originalMessage as { email: { email_id: string; message_id_header: string; body: string } };
      assert.equal(replayed.email.email_id, CARD_SHAPED_EMAIL_ID);
      assert.equal(replayed.email.message_id_header, CARD_SHAPED_MESSAGE_ID);
      assert.equal(replayed.email.body, 'My card [card number removed] was charged twice.\n', 'the card number in the body is removed');
    } finally {
      if (brokerOpen) await broker.close();
      await worker?.stop();
      await vhost.cleanup();
    }
  },
);
