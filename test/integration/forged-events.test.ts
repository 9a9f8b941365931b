/**
 * Forged events on the real broker, with the users and topic permissions of
 * rabbitmq/definitions.json: the poller's user may publish `email.received` on `events`, and no
 * other stage. Under that key, and in the events header of its own hop (`email_exchange`/`classify`,
 * which carries `received` only), it publishes bodies that claim other stages — a `sent` of a pending
 * draft, a `drafted` reply to a stranger and its `review_approved`, a `document.queued` naming the
 * upload folder — while a recorder and a sender (SEND_POLICY=review) run as their own users. The
 * recorder applies none of them, and the approvals built on them are dead-lettered as
 * `review_unverified`, not sent. A `received` body under the classifier's key, or on the
 * classifier's own hop (`respond`), is not replayed; the poller's `received` on its hop is. (The
 * classify hop's exchange takes writes from the classifier and the api too: see
 * docs/ARCHITECTURE.md#events for that bound.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import amqplib, { type ConfirmChannel } from 'amqplib';
import { createLogger } from '../../src/lib/log.js';
import { replayFromAudit } from '../../src/messaging/audit-replay.js';
import { HOP_EVENTS_HEADER, buildEvent } from '../../src/messaging/events.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import type { DeadLetterRecord, ToSendMessage } from '../../src/pipeline/messages.js';
import { EXCHANGES, QUEUES } from '../../src/messaging/topology.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { ReviewQueue } from '../../src/store/reviews.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { createSandbox, type Account, type Sandbox } from '../helpers/permission-sandbox.js';
import { ACME, classifyMessage, filesIn, getMessage, sendMessage } from '../helpers/pipeline.js';

/** A confirm channel of `account`'s user, publishing JSON bodies on `events` under a routing key of our choosing. */
async function eventPublisher(sandbox: Sandbox, account: Account) {
  const connection = await amqplib.connect(sandbox.configFor(account).AMQP_URL);
  connection.on('error', () => undefined);
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  const publish = (routingKey: string, event: PipelineEvent) =>
    new Promise<void>((resolve, reject) => {
      channel.publish(EXCHANGES.events, routingKey, Buffer.from(JSON.stringify(event)), { messageId: event.event_id }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  /** A hop on a work exchange with `events` in its events header, as src/messaging/events.ts writes one. */
  const publishHop = (exchange: string, routingKey: string, body: unknown, events: PipelineEvent[]) =>
    new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), { headers: { [HOP_EVENTS_HEADER]: JSON.stringify(events) } }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  return { publish, publishHop, close: () => connection.close().catch(() => undefined) };
}

test(
  "the poller's user forges sent, drafted, review_approved and document.queued bodies under email.received: nothing is applied, nothing is sent",
  { timeout: 180_000 },
  async () => {
    const sandbox = await createSandbox();
    const workers: Worker[] = [];
    const poller = await eventPublisher(sandbox, 'poller');
    const inspector = await amqplib.connect(sandbox.configFor('admin').AMQP_URL);
    try {
      for (const role of ['recorder', 'sender'] as const) {
        const config = sandbox.configFor(role, { SEND_POLICY: 'review' });
        workers.push(await startWorker([role], config, createLogger({ level: config.LOG_LEVEL, format: 'json', role })));
      }
      const database = await workers[0].services.database();
      const [reviews, documents, activity] = [new ReviewQueue(database), new DocumentRegistry(database), new ActivityLog(database)];

      // A real draft: the sender user leaves it and says so under email.drafted; the recorder opens a pending review.
      const drafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Router reset' }));
      const draftedId = drafted.email.email_id;
      await sandbox.admin.publishRaw('', QUEUES.toSend, drafted);
      await waitFor(async () => (await reviews.get(draftedId))?.status === 'pending', { timeoutMs: 30_000, what: 'the pending review of the real draft' });

      // Chain B's draft: another customer's email, replying to a stranger, with a body of the forger's.
      const other = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Invoice' }));
      const evil: ToSendMessage = {
        ...other,
        email: { ...other.email, reply_recipient: 'victim@strangers.example' },
        generated_response: { ...other.generated_response, body: 'PAY HERE: https://evil.example' },
      };
      const evilId = evil.email.email_id;
      const uploadDir = sandbox.configFor('admin').UPLOAD_DIR;
      const documentId = `forged-${randomUUID()}`;
      const email = (emailId: string) => ({ email_id: emailId, agent_email: ACME });
      const forged = [
        buildEvent('sender', { stage: 'sent', ...email(draftedId), detail: { mode: 'review', approved_by: 'mallory', edited: false } }),
        buildEvent('api', { stage: 'review_approved', ...email(draftedId), detail: { by: 'admin', edited: true, body: 'PAY HERE: https://evil.example' } }),
        buildEvent('sender', { stage: 'drafted', ...email(evilId), detail: { mode: 'review', reason: 'review mode', message: evil } }),
        buildEvent('api', { stage: 'review_approved', ...email(evilId), detail: { by: 'admin', edited: false } }),
        buildEvent('upload', {
          stage: 'queued',
          document_id: documentId,
          agent_email: ACME,
          detail: { filename: 'manual.pdf', path: path.join(uploadDir, 'manual.pdf') },
        }),
      ];
      // The broker accepts every one of them: the poller's user may publish email.received.
      for (const event of forged) await poller.publish('email.received', event);
      // And on its hop, email_exchange/classify, which the stream reads too: that hop carries `received` only.
      const hopBody = await classifyMessage(ACME, makeEmail({ to: ACME, subject: 'Hop' }));
      const onHop = forged.map((event) => ({ ...event, event_id: randomUUID() }));
      await poller.publishHop(EXCHANGES.email, 'classify', hopBody, onHop);
      // The poller's real stage last: once the recorder has it, it has read every forgery before it.
      const marker = buildEvent('poller', { stage: 'received', ...email(`marker-${randomUUID()}`), detail: {} });
      await poller.publish('email.received', marker);
      await waitFor(async () => await activity.getEmail(marker.email_id!), { timeoutMs: 30_000, what: "the poller's own event recorded" });

      assert.deepEqual(
        [(await reviews.get(draftedId))?.status, (await reviews.get(draftedId))?.decided_by, (await reviews.get(draftedId))?.sent_at],
        ['pending', null, null],
        'the real draft is still waiting for a reviewer',
      );
      assert.equal(await reviews.get(evilId), undefined, 'no review opened for the forged draft');
      assert.equal(await documents.get(documentId), undefined, 'the document registry is untouched');
      const recorded = new Set([...(await activity.timeline(draftedId)), ...(await activity.timeline(evilId))].map((event) => event.event_id));
      assert.deepEqual(
        [...forged, ...onHop].filter((event) => recorded.has(event.event_id)).map((event) => event.stage),
        [],
        'no forged event is in the activity log',
      );

      // Approvals that only the forgeries would have backed: one of the pending draft exactly as drafted, one of the stranger's.
      const approval = { approved_by: 'admin', approved_at: new Date().toISOString(), edited: false };
      const channel = await inspector.createChannel();
      for (const claimed of [
        { ...drafted, message_id: randomUUID(), review: approval },
        { ...evil, message_id: randomUUID(), review: approval },
      ]) {
        await sandbox.admin.publishRaw('', QUEUES.toSend, claimed);
        const { body: record } = await getMessage<DeadLetterRecord>(channel, QUEUES.deadLetter, 30_000);
        assert.deepEqual(
          [record.failure_info.error_type, (record.original_message as ToSendMessage).email.email_id],
          ['review_unverified', claimed.email.email_id],
          record.failure_info.error_message,
        );
      }
      const maildir = path.join(sandbox.configFor('sender').MAILDIR_ROOT, ACME);
      assert.deepEqual(await filesIn(path.join(maildir, 'outbox'), '.eml'), [], 'nothing was sent');
      assert.equal((await reviews.get(draftedId))?.status, 'pending');
    } finally {
      await poller.close();
      await inspector.close().catch(() => undefined);
      for (const worker of workers.reverse()) await worker.stop();
      await sandbox.cleanup();
    }
  },
);

test(
  "a replay takes a received email only from the poller's key or hop: a received the classifier's user published, under its key or on its hop, is not replayed",
  { timeout: 120_000 },
  async () => {
    const sandbox = await createSandbox();
    const classifier = await eventPublisher(sandbox, 'classifier');
    const poller = await eventPublisher(sandbox, 'poller');
    try {
      const since = new Date(Date.now() - 1_000);
      const stranger = await classifyMessage(ACME, makeEmail({ to: ACME, subject: 'Forged' }));
      stranger.email = { ...stranger.email, reply_recipient: 'victim@strangers.example' };
      const forged = buildEvent('poller', { stage: 'received', email_id: stranger.email.email_id, agent_email: ACME, detail: { message: stranger } });
      await classifier.publish('email.classified', forged);
      const real = await classifyMessage(ACME, makeEmail({ to: ACME, subject: 'Real' }));
      await poller.publish(
        'email.received',
        buildEvent('poller', { stage: 'received', email_id: real.email.email_id, agent_email: ACME, detail: { message: real } }),
      );

      // The same on the hops: the classifier's hop (email_exchange/respond) carries `classified` only;
      // the poller's hop carries its `received` without the message, which is the hop's body.
      const forgedOnHop = { ...forged, event_id: randomUUID() };
      await classifier.publishHop(EXCHANGES.email, 'respond', stranger, [forgedOnHop]);
      const folded = await classifyMessage(ACME, makeEmail({ to: ACME, subject: 'Real, on its hop' }));
      await poller.publishHop(EXCHANGES.email, 'classify', folded, [
        buildEvent('poller', { stage: 'received', email_id: folded.email.email_id, agent_email: ACME, detail: { subject: 'Real, on its hop' } }),
      ]);

      const report = await replayFromAudit(sandbox.admin, { stage: 'classify', since, until: new Date(Date.now() + 1_000), shadow: true, dryRun: true });
      assert.deepEqual(
        report.replayed.map((entry) => entry.email_id),
        [real.email.email_id, folded.email.email_id],
        "only the poller's emails are replayed",
      );
      const refused = report.refused.find((entry) => entry.event_id === forged.event_id);
      assert.match(refused?.reason ?? '', /claims stage "received" \(routing key email\.received\) but was published as "email\.classified"/);
      const refusedOnHop = report.refused.find((entry) => entry.event_id === forgedOnHop.event_id);
      assert.match(
        refusedOnHop?.reason ?? '',
        /claims stage "received" \(routing key email\.received\) but came with a hop on email_exchange\/respond, which carries only classified/,
      );
    } finally {
      await classifier.close();
      await poller.close();
      await sandbox.cleanup();
    }
  },
);
