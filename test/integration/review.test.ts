/**
 * The review queue against the real RabbitMQ: in review mode the sender leaves drafts, the recorder
 * opens a review for each, and a reviewer's approval goes out through the sender role exactly once
 * (edited body, draft removed), a rejection sends nothing, and every decision is in the activity log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { Broker } from '../../src/messaging/broker.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { approveReview, approvedMessage, rejectReview } from '../../src/features/reviews/actions.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { DELIVERY_UNCERTAIN_REASON } from '../../src/roles/sender.js';
import { ReviewConflictError, ReviewQueue, type Review, type ReviewStatus } from '../../src/store/reviews.js';
import { waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { toSend } from '../../src/pipeline/stages.js';
import {
  deliverEmail,
  getMessage,
  ingestSampleManuals,
  openChannel,
  readReplies,
  sendMessage,
  withPipeline,
  handoffBodyFor,
  ACME,
  SAMPLES,
  type Pipeline,
  type ReplyFile,
} from '../helpers/pipeline.js';

const FULL_FLOW = ['poller', 'classifier', 'responder', 'sender', 'recorder', 'ingester'] as const;

const reviewsOf = (pipeline: Pipeline) => new ReviewQueue(pipeline.database);

async function waitForReview(pipeline: Pipeline, emailId: string, status: ReviewStatus, timeoutMs = 90_000): Promise<Review> {
  const review = await waitFor(
    async () => {
      const found = await reviewsOf(pipeline).get(emailId);
      return found?.status === status ? found : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `review of ${emailId} ${status} (now ${(await reviewsOf(pipeline).get(emailId))?.status ?? 'none'})` },
  );
  assert.ok(review);
  return review;
}

async function waitForState(pipeline: Pipeline, emailId: string, state: string): Promise<void> {
  await waitFor(async () => (await pipeline.activity.getEmail(emailId))?.state === state, {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `${emailId} in state ${state} (now ${(await pipeline.activity.getEmail(emailId))?.state})`,
  });
}

async function repliesTo(pipeline: Pipeline, emailId: string): Promise<ReplyFile[]> {
  return (await readReplies(pipeline, ACME)).filter((reply) => reply.headers['x-ragmail-email-id'] === emailId);
}

const sample = async (name: string) => readFile(path.join(SAMPLES, 'emails', ACME, name));

test(
  'review mode: an approved, edited reply is sent once through the sender, a rejected one never, a hand-off can be approved',
  { timeout: 240_000 },
  async () => {
    await withPipeline(FULL_FLOW, { SEND_POLICY: 'review' }, async (pipeline) => {
      const raw = await openChannel(pipeline);
      try {
        // Our own queue on the send binding keeps a copy of every emails.to_send message, the approved one included.
        const { queue: tap } = await raw.channel.assertQueue('', { exclusive: true });
        await raw.channel.bindQueue(tap, EXCHANGES.reply, ROUTING_KEYS.send);
        await ingestSampleManuals(pipeline);
        const router = (await deliverEmail(pipeline, ACME, await sample('01-router-reset.eml'))).email;
        const firmware = (await deliverEmail(pipeline, ACME, await sample('02-firmware-update.eml'))).email;
        const zigbee = (await deliverEmail(pipeline, ACME, await sample('06-zigbee-question.eml'))).email;

        // The drafted reply waits for review with everything a reviewer reads: question, reply, passages.
        const pending = await waitForReview(pipeline, router.email_id, 'pending');
        assert.equal(pending.reason, 'review mode');
        assert.equal(pending.message.email.body, router.body);
        assert.match(pending.reply_body, /Source: "ACME Router X200 User Manual", page 3/);
        assert.ok(pending.message.context_used.some((item) => item.source === 'acme-router-x200-manual.pdf' && item.page === 3 && item.text.length > 0));
        await waitForState(pipeline, router.email_id, 'drafted');
        assert.deepEqual(
          (await repliesTo(pipeline, router.email_id)).map((reply) => reply.folder),
          ['drafts'],
        );

        const reviews = reviewsOf(pipeline);
        await assert.rejects(
          approveReview(pipeline.worker.broker, reviews, router.email_id, { by: 'alice', body: '  \n ' }),
          (error: Error & { code?: string; retryable?: boolean }) => error.code === 'review_body_empty' && error.retryable === false,
        );
        assert.equal((await reviews.get(router.email_id))?.status, 'pending', 'a blank body decides nothing');

        const edited = `${pending.reply_body}\n\nAlice from Acme support: your settings are kept after the reset.`;
        const approved = await approveReview(pipeline.worker.broker, reviews, router.email_id, { by: 'alice', body: edited });
        assert.deepEqual([approved.status, approved.decided_by, approved.edited, approved.reply_body], ['approved', 'alice', true, edited]);
        await assert.rejects(approveReview(pipeline.worker.broker, reviews, router.email_id, { by: 'bob' }), ReviewConflictError);

        // Exactly one reply, with the edited body, in the outbox; the draft is gone.
        await waitForReview(pipeline, router.email_id, 'sent');
        const [reply, ...more] = await repliesTo(pipeline, router.email_id);
        assert.equal(more.length, 0, 'one reply file');
        assert.equal(reply.folder, 'outbox');
        assert.equal(reply.parsed.text?.trim(), edited.trim());
        assert.equal(reply.headers['x-ragmail-status'], undefined, 'the sent reply is not marked as a draft');
        assert.equal(reply.parsed.inReplyTo, router.message_id_header);
        const sentReview = await reviewsOf(pipeline).get(router.email_id);
        assert.equal(sentReview?.decided_by, 'alice');
        assert.ok(sentReview?.sent_at);
        await waitForState(pipeline, router.email_id, 'sent');
        const summary = await pipeline.activity.getEmail(router.email_id);
        assert.equal(summary?.send_mode, 'review');
        // The approval's own event and the sender's travel apart: the recorder may store them in either order.
        await waitFor(async () => (await pipeline.activity.timeline(router.email_id)).some((event) => event.stage === 'review_approved'), {
          what: 'the approval recorded',
        });
        const timeline = await pipeline.activity.timeline(router.email_id);
        const decision = timeline.find((event) => event.stage === 'review_approved');
        assert.deepEqual([decision?.role, decision?.detail.by, decision?.detail.edited], ['api', 'alice', true]);
        const sent = timeline.find((event) => event.stage === 'sent');
        assert.deepEqual([sent?.detail.mode, sent?.detail.approved_by, sent?.detail.edited, sent?.detail.draft_removed], ['review', 'alice', true, true]);
        assert.equal(timeline.find((event) => event.stage === 'drafted')?.detail.message, undefined, 'the log keeps no copy of the message');

        // The approved message delivered again sends nothing more.
        const copies: ToSendMessage[] = [];
        for (let message = await raw.channel.get(tap, { noAck: true }); message; message = await raw.channel.get(tap, { noAck: true })) {
          copies.push(JSON.parse(message.content.toString('utf8')) as ToSendMessage);
        }
        const approvedMessage = copies.find((message) => message.email.email_id === router.email_id && message.review);
        assert.ok(approvedMessage, 'the approval was published to emails.to_send');
        assert.equal(approvedMessage.original_message_id, pending.message.message_id);
        assert.deepEqual(approvedMessage.review && { ...approvedMessage.review, approved_at: 'x' }, { approved_by: 'alice', approved_at: 'x', edited: true });
        const settledBefore = pipeline.settled.get('sender')?.length ?? 0;
        await pipeline.worker.broker.publish(toSend, approvedMessage, { priority: approvedMessage.email.priority });
        // Other emails of this test may settle in between: look for the duplicate among what came after.
        await waitFor(() => (pipeline.settled.get('sender') ?? []).slice(settledBefore).some((info) => info.status === 'duplicate'), {
          timeoutMs: 30_000,
          what: 'the redelivered approval settled as a duplicate',
        });
        assert.equal((await repliesTo(pipeline, router.email_id)).length, 1, 'still one reply');

        // Rejected: nothing goes out, the email ends as rejected with who and why.
        await waitForReview(pipeline, firmware.email_id, 'pending');
        const rejected = await rejectReview(pipeline.worker.broker, reviews, firmware.email_id, { by: 'bob', note: 'firmware answer is outdated' });
        assert.deepEqual([rejected.status, rejected.decided_by, rejected.note], ['rejected', 'bob', 'firmware answer is outdated']);
        await waitForState(pipeline, firmware.email_id, 'rejected');
        assert.equal((await pipeline.activity.getEmail(firmware.email_id))?.outcome, 'rejected by bob: firmware answer is outdated');
        await assert.rejects(approveReview(pipeline.worker.broker, reviews, firmware.email_id, { by: 'alice' }), ReviewConflictError);
        assert.deepEqual(
          (await repliesTo(pipeline, firmware.email_id)).map((file) => file.folder),
          ['drafts'],
          'nothing in the outbox',
        );

        // A hand-off draft approved as written goes out as the hand-off reply.
        const handoff = await waitForReview(pipeline, zigbee.email_id, 'pending');
        assert.equal(handoff.message.generated_response.handoff, true);
        assert.equal(handoff.reason, 'nothing relevant in the manuals');
        await waitForState(pipeline, zigbee.email_id, 'handed_off');
        const approvedHandoff = await approveReview(pipeline.worker.broker, reviews, zigbee.email_id, { by: 'carol' });
        assert.equal(approvedHandoff.edited, false);
        await waitForReview(pipeline, zigbee.email_id, 'sent');
        await waitForState(pipeline, zigbee.email_id, 'sent');
        const handoffReplies = await repliesTo(pipeline, zigbee.email_id);
        assert.deepEqual(
          handoffReplies.map((file) => file.folder),
          ['outbox'],
        );
        assert.equal(handoffReplies[0].parsed.text?.trim(), handoffBodyFor(zigbee));
        assert.match((await pipeline.activity.getEmail(zigbee.email_id))?.outcome ?? '', /^sent \(review\)/);
        assert.deepEqual(await reviewsOf(pipeline).list({ status: 'pending' }), [], 'no review left waiting');
      } finally {
        await raw.close();
      }
    });
  },
);

test(
  'an approval that cannot be published leaves the review pending; an approved reply over the daily quota is dead-lettered, not re-drafted',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'review', DAILY_SEND_QUOTA: '0' }, async (pipeline) => {
      const drafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Router reset' }));
      const emailId = drafted.email.email_id;
      await pipeline.worker.broker.publish(toSend, drafted);
      await waitForReview(pipeline, emailId, 'pending', 30_000);
      const reviews = reviewsOf(pipeline);

      // A broker that is closed cannot publish: the decision is taken back.
      const closed = new Broker(pipeline.vhost.config, pipeline.vhost.logger);
      await closed.close();
      await assert.rejects(
        approveReview(closed, reviews, emailId, { by: 'alice', body: 'Edited.' }),
        (error: Error & { code?: string }) => error.code === 'broker_closed',
      );
      const reverted = await reviews.get(emailId);
      assert.deepEqual(
        [reverted?.status, reverted?.decided_by, reverted?.edited, reverted?.reply_body],
        ['pending', null, false, drafted.generated_response.body],
      );

      const raw = await openChannel(pipeline);
      try {
        await approveReview(pipeline.worker.broker, reviews, emailId, { by: 'alice' });
        const { body: record } = await getMessage<{ failure_info: { error_type: string; retry_count: number }; original_message: ToSendMessage }>(
          raw.channel,
          QUEUES.deadLetter,
          30_000,
        );
        assert.equal(record.failure_info.error_type, 'daily_quota_exhausted');
        assert.equal(record.original_message.review?.approved_by, 'alice');
        assert.ok(record.failure_info.retry_count >= 1, 'the quota was tried again before giving up');
      } finally {
        await raw.close();
      }
      const statuses = (pipeline.settled.get('sender') ?? []).map((info) => info.status);
      assert.ok(!statuses.slice(1).includes('drafted'), `the approved reply was not drafted again: ${statuses.join(', ')}`);
      const replies = await repliesTo(pipeline, emailId);
      assert.deepEqual(
        replies.map((file) => file.folder),
        ['drafts'],
        'nothing sent, the draft kept',
      );
      assert.equal((await reviews.get(emailId))?.status, 'approved');
    });
  },
);

for (const handoff of [false, true]) {
  test(
    `an approved reply whose sender stopped inside the SMTP transaction goes back to the reviewers with the reason; approved again, it is sent once (${handoff ? 'a hand-off' : 'a draft'} to begin with)`,
    { timeout: 120_000 },
    async () => {
      await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'review' }, async (pipeline) => {
        // A hand-off's review is opened by a `handed_off` event, the stage an uncertain delivery says too.
        const drafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Router reset' }), { handoff });
        const emailId = drafted.email.email_id;
        await pipeline.worker.broker.publish(toSend, drafted);
        await waitForReview(pipeline, emailId, 'pending', 30_000);
        const reviews = reviewsOf(pipeline);

        // Alice approves; a sender takes the approval, starts the SMTP transaction and dies inside it.
        const approval = await reviews.decide(emailId, { action: 'approved', by: 'alice', body: 'Hold the reset button for 10 seconds.' });
        const claims = await pipeline.worker.services.sendClaims();
        const claimKey = `review:${emailId}:${approval.decided_at}`;
        assert.equal(await claims.claim(claimKey, 'dead-host:1:sender', 60_000), 'claimed');
        await claims.transmitting(claimKey, replyMessageId(mailboxKeyOf(drafted.email), ACME));
        await claims.release(claimKey, 'dead-host:1:sender');
        await pipeline.worker.broker.publish(toSend, approvedMessage(approval));

        const reopened = await waitForReview(pipeline, emailId, 'pending', 30_000);
        assert.deepEqual(
          [reopened.reason, reopened.decided_by, reopened.reply_body, reopened.edited],
          [DELIVERY_UNCERTAIN_REASON, null, 'Hold the reset button for 10 seconds.', true],
          'back in the queue, saying why, with the body Alice approved',
        );
        assert.deepEqual(
          (await repliesTo(pipeline, emailId)).map((file) => file.folder),
          ['drafts'],
          'nothing sent again',
        );

        // Bob checked that the customer did not get it, and approves again: a send of its own.
        // The dashboard shows the reopened body in its editor, and approves what it shows.
        await approveReview(pipeline.worker.broker, reviews, emailId, { by: 'bob', body: reopened.reply_body });
        const sent = await waitForReview(pipeline, emailId, 'sent', 30_000);
        assert.equal(sent.decided_by, 'bob');
        const replies = await repliesTo(pipeline, emailId);
        assert.deepEqual(
          replies.map((file) => file.folder),
          ['outbox'],
          'sent once, its draft removed',
        );
        assert.match(replies[0]!.parsed.text ?? '', /Hold the reset button for 10 seconds\./);
      });
    },
  );
}
