/**
 * The crash window of an approved reply: only an `approved` review lets a reply go out (never a
 * `sent` one), so the two ways an approval comes back after it went out must still end as
 * duplicates — neither sent twice nor dead-lettered as `review_unverified`: the sender died after
 * sending but before its `sent` event (the review is still approved; the reply is found in the
 * mailbox), and the approval delivered again after the recorder marked the review sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { QUEUES } from '../../src/messaging/topology.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { ReviewQueue } from '../../src/store/reviews.js';
import { waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { ACME, filesIn, sendMessage, waitForSettled, withPipeline } from '../helpers/pipeline.js';

test(
  'an approved reply whose sender died before its sent event is not sent again, and neither is its approval redelivered once the review is sent',
  { timeout: 90_000 },
  async () => {
    await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'review' }, async (pipeline) => {
      const drafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Router reset' }));
      const { email } = drafted;
      const broker = pipeline.worker.broker;
      // Straight into the queue, whichever exchange feeds it.
      await broker.publishRaw('', QUEUES.toSend, drafted);
      const reviews = new ReviewQueue(pipeline.database);
      await waitFor(async () => (await reviews.get(email.email_id))?.status === 'pending', { timeoutMs: 30_000, what: 'the pending review' });
      const review = await reviews.decide(email.email_id, { action: 'approved', by: 'alice' });
      const approved = { ...drafted, message_id: randomUUID(), review: { approved_by: 'alice', approved_at: review.decided_at, edited: false } };
      // What the dying sender got done: the approved reply is in the outbox, no `sent` event went out.
      const reply = {
        email,
        message_id: replyMessageId(mailboxKeyOf(email), ACME),
        subject: drafted.generated_response.subject,
        body: drafted.generated_response.body,
      };
      await pipeline.worker.services.mailbox.send(reply);

      await broker.publishRaw('', QUEUES.toSend, approved);
      const afterCrash = await waitForSettled(pipeline, 'sender', 2);
      assert.equal(afterCrash[1]?.status, 'duplicate', 'the redelivered approval finds its reply sent');
      await waitFor(async () => (await reviews.get(email.email_id))?.status === 'sent', {
        timeoutMs: 30_000,
        what: "the review marked sent from the sender's event",
      });

      await broker.publishRaw('', QUEUES.toSend, approved);
      const afterSent = await waitForSettled(pipeline, 'sender', 3);
      assert.equal(afterSent[2]?.status, 'duplicate', "a sent review's approval is a duplicate, not review_unverified");
      assert.equal((await filesIn(path.join(pipeline.vhost.config.MAILDIR_ROOT, ACME, 'outbox'), '.eml')).length, 1, 'one reply sent');
    });
  },
);
