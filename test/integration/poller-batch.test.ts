/**
 * The poller publishes a poll's emails with their confirms in flight together (src/roles/poller.ts),
 * on the real RabbitMQ and a real Maildir: each email is one publish carrying its `received`, marked
 * taken in the mailbox's order and only once its publish is confirmed (it is in the published
 * store, written after the confirm, by then); two copies of one email in a batch are published once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import { Services } from '../../src/app/services.js';
import { Broker } from '../../src/messaging/broker.js';
import { HOP_EVENTS_HEADER } from '../../src/messaging/events.js';
import { QUEUES } from '../../src/messaging/topology.js';
import type { Email } from '../../src/pipeline/messages.js';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import type { Mailbox } from '../../src/providers/mailbox/spec.js';
import { PUBLISHES_IN_FLIGHT, pollOnce } from '../../src/roles/poller.js';
import { PublishedEmails } from '../../src/store/published-emails.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { ACME } from '../helpers/pipeline.js';

test(
  'a poll of more emails than are published at once: each published once with its received, marked taken in order after its confirm, a copy in the batch only marked',
  { timeout: 120_000 },
  async () => {
    const vhost = await createTestVhost();
    const broker = new Broker(vhost.config, vhost.logger);
    const services = new Services(vhost.config, vhost.logger);
    try {
      await broker.start();
      const published = new PublishedEmails(await services.database());
      const count = PUBLISHES_IN_FLIGHT + 8;
      for (let index = 0; index < count; index += 1) {
        await deliverToMaildir(vhost.config.MAILDIR_ROOT, ACME, Buffer.from(makeEmail({ to: ACME, subject: `Question ${index}` })));
      }
      // The same email twice (the same Message-ID), as a mailbox may hold it.
      const twice = makeEmail({ to: ACME, subject: 'Asked twice', messageId: '<asked-twice@customer.example>' });
      await deliverToMaildir(vhost.config.MAILDIR_ROOT, ACME, Buffer.from(twice));
      await deliverToMaildir(vhost.config.MAILDIR_ROOT, ACME, Buffer.from(twice));

      // The Maildir as the poller sees it, noting what was in the published store when each email was marked taken.
      const maildir = services.mailbox;
      const marked: Array<{ mailbox_ref: string; publishedBefore: boolean }> = [];
      let fetchedOrder: string[] = [];
      // pollOnce reads and marks only; the rest of the Maildir is not used.
      const mailbox: Pick<Mailbox, 'fetchNew' | 'markTaken'> = {
        fetchNew: async (limit: number) => {
          const fetched = await maildir.fetchNew(limit);
          fetchedOrder = fetched.map(({ email }) => email.mailbox_ref);
          return fetched;
        },
        markTaken: async (email: Email) => {
          marked.push({ mailbox_ref: email.mailbox_ref, publishedBefore: await published.has(email.email_id) });
          await maildir.markTaken(email);
        },
      };

      const result = await pollOnce({ mailbox: mailbox as Mailbox, broker, published, logger: vhost.logger, batchSize: 100 });
      assert.deepEqual(result, { published: count + 1, skipped: 0, duplicates: 1 });
      assert.equal(marked.length, count + 2, 'every email of the batch marked taken, the copy too');
      assert.ok(
        marked.every((entry) => entry.publishedBefore),
        'no email marked taken before its publish was confirmed',
      );
      assert.deepEqual(
        marked.map((entry) => entry.mailbox_ref),
        fetchedOrder,
        "marked taken in the mailbox's order",
      );

      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      try {
        const channel = await connection.createChannel();
        assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, count + 1, 'one message per email in emails.to_classify');
        await channel.prefetch(100);
        const hops: Array<{ subject: string; stages: string[] }> = [];
        await channel.consume(
          QUEUES.audit,
          (message) => {
            if (!message) return;
            const body = JSON.parse(message.content.toString('utf8')) as { email?: { subject: string } };
            const header = message.properties.headers?.[HOP_EVENTS_HEADER] as string | undefined;
            hops.push({
              subject: body.email?.subject ?? '',
              stages: header ? (JSON.parse(header) as Array<{ stage: string }>).map((event) => event.stage) : [],
            });
            channel.ack(message);
          },
          { arguments: { 'x-stream-offset': 'first' } },
        );
        await waitFor(() => hops.length >= count + 1, { what: 'every hop in the stream' });
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(hops.length, count + 1, 'one stream message per email: its hop, and no event of its own');
        assert.ok(hops.every((hop) => hop.stages.join() === 'received'));
        assert.equal(hops.filter((hop) => hop.subject === 'Asked twice').length, 1);
      } finally {
        await connection.close();
      }
    } finally {
      await broker.close();
      await services.close();
      await vhost.cleanup();
    }
  },
);
