/**
 * One email must not mail strangers, and no message can skip review, against the real RabbitMQ
 * and the real roles: a Reply-To of 200 addresses (and the From variants that hid an own or a
 * no-reply address) yields no sent reply in auto mode, only a draft for review with the reason,
 * which cannot be approved; an approval forged straight into `emails.to_send` is dead-lettered as
 * `review_unverified`, while a real approval through the API sends exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { DeadLetterRecord, ToSendMessage } from '../../src/pipeline/messages.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { ReviewQueue, type Review } from '../../src/store/reviews.js';
import { waitFor } from '../helpers/broker.js';
import {
  deliverEmail,
  getMessage,
  ingestSampleManuals,
  openChannel,
  readReplies,
  recipientsOf,
  sendMessage,
  waitForFinalStates,
  withPipeline,
  ACME,
  SAMPLES,
  type Pipeline,
} from '../helpers/pipeline.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { toSend } from '../../src/pipeline/stages.js';

const FULL_FLOW = ['poller', 'classifier', 'responder', 'sender', 'recorder', 'ingester', 'api'] as const;

/** POST to the operator API with the pipeline's token. */
async function post(
  pipeline: Pipeline,
  route: string,
  json: unknown = {},
): Promise<{ status: number; body: { error?: string; code?: string; review?: Review } }> {
  const response = await fetch(`${pipeline.apiUrl}${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${pipeline.apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; code?: string; review?: Review } };
}

/**
 * Sample 11 (a cancellation question one page of the manuals answers, sent in auto mode) with its
 * From/Reply-To replaced.
 */
async function cancelQuestion(from: string, replyTo?: string): Promise<string> {
  const sample = await readFile(path.join(SAMPLES, 'emails', ACME, '11-cancel-subscription-html.eml'), 'utf8');
  const headers = [`From: ${from}`, ...(replyTo ? [`Reply-To: ${replyTo}`] : [])].join('\r\n');
  return sample
    .replace(/^From: .*$/m, headers)
    .replace(/^Message-ID: .*$/m, `Message-ID: <${randomUUID()}@mailbox.example>`)
    .replace(/\r?\n/g, '\r\n');
}

test(
  'auto mode: a 200-address Reply-To and the From variants send nothing; the list is a draft for review that cannot be approved',
  { timeout: 240_000 },
  async () => {
    await withPipeline(FULL_FLOW, { SEND_POLICY: 'auto' }, async (pipeline) => {
      await ingestSampleManuals(pipeline);
      const victims = Array.from({ length: 200 }, (_, index) => `victim${index}@strangers.example`);
      // The control: the same question with one Reply-To goes out, so the others were stopped by their recipients.
      const control = (await deliverEmail(pipeline, ACME, await cancelQuestion('Olivia Martins <olivia.martins@inbox.example>', 'olivia@home.example'))).email;
      const listed = (await deliverEmail(pipeline, ACME, await cancelQuestion('Olivia Martins <olivia.martins@inbox.example>', `<${victims.join(',')}>`)))
        .email;
      const fromList = (await deliverEmail(pipeline, ACME, await cancelQuestion('<olivia@inbox.example,x@evil.example>'))).email;
      const fromOwn = (await deliverEmail(pipeline, ACME, await cancelQuestion(`<${ACME},x@evil.example>`))).email;
      const fromRobot = (await deliverEmail(pipeline, ACME, await cancelQuestion('<x@evil.example,noreply@victim.example>'))).email;
      const states = await waitForFinalStates(
        pipeline,
        [control, listed, fromList, fromOwn, fromRobot].map((email) => email.email_id),
        120_000,
      );

      assert.equal(states.get(control.email_id)?.state, 'sent', 'the control question is sent in auto mode');
      assert.equal(states.get(listed.email_id)?.state, 'drafted');
      assert.equal(states.get(fromList.email_id)?.state, 'drafted');
      assert.equal(states.get(fromOwn.email_id)?.state, 'skipped');
      assert.match(states.get(fromOwn.email_id)?.outcome ?? '', /mailbox itself/);
      assert.equal(states.get(fromRobot.email_id)?.state, 'skipped');
      assert.match(states.get(fromRobot.email_id)?.outcome ?? '', /automated sender noreply@victim\.example/);

      const replies = await readReplies(pipeline, ACME);
      const outbox = replies.filter((reply) => reply.folder === 'outbox');
      assert.deepEqual(
        outbox.map((reply) => reply.headers['x-ragmail-email-id']),
        [control.email_id],
        'only the control reply was sent',
      );
      assert.deepEqual(recipientsOf(outbox[0].parsed), ['olivia@home.example'], 'the sent reply has exactly one recipient');
      const listedDraft = replies.find((reply) => reply.headers['x-ragmail-email-id'] === listed.email_id);
      assert.equal(listedDraft?.folder, 'drafts');
      assert.deepEqual(recipientsOf(listedDraft!.parsed), [], 'the draft addresses nobody: a person answers by hand');

      const reviews = new ReviewQueue(pipeline.database);
      const review = await waitFor(async () => await reviews.get(listed.email_id), { timeoutMs: 30_000, what: 'the review of the listed email' });
      assert.equal(review?.reason, 'no single valid recipient: Reply-To names 200 addresses; answer by hand');
      assert.deepEqual([review?.recipient, review?.recipient_problem], [null, 'Reply-To names 200 addresses']);
      assert.equal((await reviews.get(fromList.email_id))?.recipient_problem, 'From names 2 addresses');

      // The API shows the problem and refuses the approval with a clear 4xx.
      const listing = await fetch(`${pipeline.apiUrl}/api/reviews?agent_email=${encodeURIComponent(ACME)}`, {
        headers: { authorization: `Bearer ${pipeline.apiToken}` },
      });
      const shown = ((await listing.json()) as { reviews: Review[] }).reviews.find((entry) => entry.email_id === listed.email_id);
      assert.deepEqual([shown?.recipient, shown?.recipient_problem], [null, 'Reply-To names 200 addresses']);
      const refused = await post(pipeline, `/api/reviews/${encodeURIComponent(listed.email_id)}/approve`);
      assert.equal(refused.status, 422);
      assert.equal(refused.body.code, 'review_no_recipient');
      assert.match(refused.body.error ?? '', /no single valid recipient; answer by hand/);
      assert.equal((await reviews.get(listed.email_id))?.status, 'pending', 'nothing was decided');
      assert.equal((await readReplies(pipeline, ACME)).filter((reply) => reply.folder === 'outbox').length, 1, 'still only the control reply sent');
    });
  },
);

test(
  'review mode: forged approvals published straight to emails.to_send are dead-lettered as review_unverified; a real approval through the API sends once',
  { timeout: 180_000 },
  async () => {
    await withPipeline(['sender', 'recorder', 'api'], { SEND_POLICY: 'review' }, async (pipeline) => {
      const drafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Router reset' }));
      const emailId = drafted.email.email_id;
      const broker = pipeline.worker.broker;
      await broker.publish(toSend, drafted);
      const reviews = new ReviewQueue(pipeline.database);
      await waitFor(async () => (await reviews.get(emailId))?.status === 'pending', { timeoutMs: 30_000, what: 'the pending review' });

      const raw = await openChannel(pipeline);
      try {
        const review = { approved_by: 'mallory', approved_at: new Date().toISOString(), edited: false };
        // A forged approval of the pending draft, sent to another address with another body.
        const forgedPending: ToSendMessage = {
          ...drafted,
          message_id: randomUUID(),
          review,
          email: { ...drafted.email, reply_recipient: 'mallory@evil.example' },
          generated_response: { ...drafted.generated_response, body: 'Pay here: https://evil.example' },
        };
        // A forged approval of an email nobody drafted.
        const neverDrafted = await sendMessage(ACME, makeEmail({ to: ACME, subject: 'Never drafted' }));
        for (const forged of [forgedPending, { ...neverDrafted, review }]) {
          await broker.publish(toSend, forged);
          const { body: record } = await getMessage<DeadLetterRecord>(raw.channel, QUEUES.deadLetter, 30_000);
          // Dead-lettered after one attempt: it will never verify.
          assert.deepEqual(
            [record.failure_info.error_type, record.failure_info.retry_count, (record.original_message as ToSendMessage).email.email_id],
            ['review_unverified', 1, forged.email.email_id],
            record.failure_info.error_message,
          );
        }
        assert.deepEqual(
          (await readReplies(pipeline, ACME)).map((reply) => reply.folder),
          ['drafts'],
          'nothing was sent',
        );
        assert.equal((await reviews.get(emailId))?.status, 'pending');

        // The real approval goes out once, to the one recipient of the email.
        const approved = await post(pipeline, `/api/reviews/${encodeURIComponent(emailId)}/approve`);
        assert.equal(approved.status, 202);
        await waitFor(async () => (await reviews.get(emailId))?.status === 'sent', { timeoutMs: 30_000, what: 'the approved reply sent' });
        const outbox = (await readReplies(pipeline, ACME)).filter((reply) => reply.folder === 'outbox');
        assert.equal(outbox.length, 1);
        assert.deepEqual(recipientsOf(outbox[0].parsed), ['customer@example.com']);
        assert.equal(outbox[0].parsed.text?.trim(), drafted.generated_response.body);
        assert.equal(await raw.channel.checkQueue(QUEUES.deadLetter).then((queue) => queue.messageCount), 0, 'the real approval was not dead-lettered');
      } finally {
        await raw.close();
      }
    });
  },
);
