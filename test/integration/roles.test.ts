/**
 * Each role on its own against the real RabbitMQ: a hand-made valid message goes into the role's
 * queue, only that role runs, and what it produced is read from the next queue (no consumer
 * there), the Maildir and the activity log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { QUEUES } from '../../src/messaging/topology.js';
import type { ToRespondMessage, ToSendMessage } from '../../src/pipeline/messages.js';
import { loadConfig } from '../../src/app/config.js';
import { replySettingsOf } from '../../src/features/send-policy.js';
import { handoffBody } from '../../src/providers/llm/reply-framing.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { toClassify, toRespond, toSend } from '../../src/pipeline/stages.js';
import { waitFor } from '../helpers/broker.js';
import {
  classifyMessage,
  deliverEmail,
  filesIn,
  getMessage,
  openChannel,
  readReplies,
  respondMessage,
  sendMessage,
  waitForSettled,
  SAMPLES,
  ACME,
  withPipeline,
} from '../helpers/pipeline.js';

/** The hand-off reply with the default signature. */
const HANDOFF_BODY = handoffBody(
  { from: 'customer@example.com', subject: '', body: '' },
  undefined,
  replySettingsOf(loadConfig({}), 'support@example.com').signature,
);

/** A support question to `to`, with a Message-ID of its own each call. */
const question = (to = 'support@widgets.example') =>
  makeEmail({
    from: 'jose@mailbox.example',
    to,
    subject: 'How do I reset my router admin password?',
    body: 'Hello, I forgot the admin password of my X200 router. How do I reset it? Thanks, José\n',
  });
const SUPPORT_QUESTION = question();

test('classifier routes a support email to emails.to_respond and drops spam', { timeout: 60_000 }, async () => {
  await withPipeline(['classifier'], {}, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      const support = await classifyMessage('support@widgets.example', SUPPORT_QUESTION);
      const spam = await classifyMessage(ACME, await readFile(path.join(SAMPLES, 'emails', ACME, '09-spam-prize.eml'), 'utf8'));
      await pipeline.worker.broker.publish(toClassify, spam, { priority: spam.email.priority });
      await pipeline.worker.broker.publish(toClassify, support, { priority: support.email.priority });
      const settled = await waitForSettled(pipeline, 'classifier', 2);
      assert.deepEqual(settled.map((info) => info.status).sort(), ['classified', 'ignored']);

      const { body } = await getMessage<ToRespondMessage>(raw.channel, QUEUES.toRespond);
      assert.equal(body.email.email_id, support.email.email_id);
      assert.equal(body.original_message_id, support.message_id);
      assert.equal(body.classification.is_support_inquiry, true);
      assert.ok(body.classification.confidence > 0 && body.classification.confidence <= 1);
      assert.equal(await raw.channel.get(QUEUES.toRespond), false, 'the spam was not routed on');
    } finally {
      await raw.close();
    }
  });
});

test('responder attaches context_used with source, page and score, and hands off when the namespace has no documents', { timeout: 60_000 }, async () => {
  await withPipeline(['responder'], {}, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      await pipeline.worker.services.vectorStore.upsert('support@widgets.example', [
        {
          document_id: 'router-manual',
          document_name: 'router-manual.pdf',
          page: 1,
          chunk_index: 0,
          text: 'Welcome to the X200 router. This manual covers setup and safety.',
        },
        {
          document_id: 'router-manual',
          document_name: 'router-manual.pdf',
          page: 3,
          chunk_index: 1,
          text: 'Reset the admin password: hold the reset button on the back of the router for 10 seconds. The admin password returns to the default printed on the label.',
        },
      ]);
      const grounded = await respondMessage('support@widgets.example', SUPPORT_QUESTION);
      await pipeline.worker.broker.publish(toRespond, grounded);
      const { body: reply } = await getMessage<ToSendMessage>(raw.channel, QUEUES.toSend);
      assert.equal(reply.email.email_id, grounded.email.email_id);
      assert.equal(reply.generated_response.handoff, false);
      assert.ok(reply.context_used.length > 0);
      const best = reply.context_used[0];
      assert.equal(best.source, 'router-manual.pdf');
      assert.equal(best.page, 3);
      assert.equal(best.document_id, 'router-manual');
      assert.ok(best.similarity_score > 0 && best.similarity_score <= 1, `score ${best.similarity_score}`);
      assert.equal(reply.generated_response.top_score, best.similarity_score);
      assert.match(reply.generated_response.body, /"router-manual\.pdf", page 3/);
      assert.match(reply.generated_response.subject, /^Re: How do I reset/);

      // Same question, a mailbox that uploaded nothing: nothing to ground on, so a hand-off.
      const orphan = await respondMessage('support@empty.example', question('support@empty.example'));
      await pipeline.worker.broker.publish(toRespond, orphan);
      const { body: handoff } = await getMessage<ToSendMessage>(raw.channel, QUEUES.toSend);
      assert.equal(handoff.email.email_id, orphan.email.email_id);
      assert.equal(handoff.generated_response.handoff, true);
      assert.deepEqual(handoff.context_used, []);
      assert.equal(handoff.generated_response.body, HANDOFF_BODY);
    } finally {
      await raw.close();
    }
  });
});

test('sender: draft mode leaves a draft, shadow mode writes nothing, auto mode with low confidence leaves a draft', { timeout: 60_000 }, async () => {
  const overrides = { MAILBOX_POLICIES: 'draft@widgets.example=draft,shadow@widgets.example=shadow', SEND_POLICY: 'auto' };
  await withPipeline(['sender', 'recorder'], overrides, async (pipeline) => {
    const draft = await sendMessage('draft@widgets.example', question('draft@widgets.example'));
    const shadow = await sendMessage('shadow@widgets.example', question('shadow@widgets.example'));
    const unsure = await sendMessage('auto@widgets.example', question('auto@widgets.example'), { confidence: 0.4 });
    for (const message of [draft, shadow, unsure]) await pipeline.worker.broker.publish(toSend, message);
    const settled = await waitForSettled(pipeline, 'sender', 3);
    assert.deepEqual(settled.map((info) => info.status).sort(), ['drafted', 'drafted', 'shadowed']);

    const root = pipeline.vhost.config.MAILDIR_ROOT;
    assert.equal((await filesIn(path.join(root, 'draft@widgets.example', 'drafts'))).length, 1);
    assert.equal((await filesIn(path.join(root, 'draft@widgets.example', 'outbox'))).length, 0);
    assert.deepEqual(await filesIn(path.join(root, 'shadow@widgets.example', 'drafts')), []);
    assert.deepEqual(await filesIn(path.join(root, 'shadow@widgets.example', 'outbox')), []);
    const [unsureDraft, ...others] = await readReplies(pipeline, 'auto@widgets.example');
    assert.equal(others.length, 0);
    assert.equal(unsureDraft.folder, 'drafts');
    assert.equal(unsureDraft.headers['x-ragmail-status'], 'draft');

    const outcome = async (id: string): Promise<string> =>
      (await waitFor(async () => (await pipeline.activity.getEmail(id))?.outcome, { what: `outcome of ${id}` })) ?? '';
    assert.match(await outcome(draft.email.email_id), /^drafted \(draft\)/);
    assert.match(await outcome(shadow.email.email_id), /^shadowed/);
    assert.match(await outcome(unsure.email.email_id), /confidence 0\.40 below 0\.7/);
  });
});

test('sender with DAILY_SEND_QUOTA=1 sends the first auto reply and drafts the second', { timeout: 60_000 }, async () => {
  await withPipeline(['sender', 'recorder'], { DAILY_SEND_QUOTA: '1', SEND_POLICY: 'auto' }, async (pipeline) => {
    const first = await sendMessage('auto@widgets.example', question('auto@widgets.example'));
    const second = await sendMessage('auto@widgets.example', makeEmail({ to: 'auto@widgets.example', subject: 'Another question' }));
    await pipeline.worker.broker.publish(toSend, first);
    assert.deepEqual(
      (await waitForSettled(pipeline, 'sender', 1)).map((info) => info.status),
      ['sent'],
    );
    await pipeline.worker.broker.publish(toSend, second);
    assert.deepEqual(
      (await waitForSettled(pipeline, 'sender', 2)).map((info) => info.status),
      ['sent', 'drafted'],
    );

    const replies = await readReplies(pipeline, 'auto@widgets.example');
    assert.deepEqual(
      replies.map((reply) => [reply.folder, reply.headers['x-ragmail-email-id']]).sort(),
      [
        ['drafts', second.email.email_id],
        ['outbox', first.email.email_id],
      ].sort(),
    );
    const outcome = await waitFor(async () => (await pipeline.activity.getEmail(second.email.email_id))?.outcome, { what: 'outcome of the second' });
    assert.match(outcome ?? '', /daily quota of 1/);
  });
});

test('poller skips automated mail with the reason, marks every email taken and never publishes one email twice', { timeout: 60_000 }, async () => {
  await withPipeline(['poller', 'recorder'], {}, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      const question = makeEmail({ to: 'support@widgets.example', subject: 'Router keeps rebooting' });
      const first = await deliverEmail(pipeline, 'support@widgets.example', question);
      const again = await deliverEmail(pipeline, 'support@widgets.example', question);
      assert.equal(first.email.email_id, again.email.email_id);
      const newsletter = await deliverEmail(
        pipeline,
        'support@widgets.example',
        makeEmail({
          to: 'support@widgets.example',
          subject: 'Weekly news',
          headers: { 'List-Id': 'News <news.example>', Precedence: 'list' },
        }),
      );
      const bounce = await deliverEmail(
        pipeline,
        'support@widgets.example',
        makeEmail({ from: 'MAILER-DAEMON@mx.example', to: 'support@widgets.example', subject: 'Undelivered Mail' }),
      );

      const folder = path.join(pipeline.vhost.config.MAILDIR_ROOT, 'support@widgets.example');
      await waitFor(async () => (await filesIn(path.join(folder, 'new'))).length === 0 && (await filesIn(path.join(folder, 'cur'))).length === 4, {
        timeoutMs: 20_000,
        what: 'new/ emptied into cur/',
      });
      for (const file of await filesIn(path.join(folder, 'cur'))) assert.match(path.basename(file), /:2,S$/);

      for (const skipped of [newsletter, bounce]) {
        const summary = await waitFor(async () => await pipeline.activity.getEmail(skipped.email.email_id), { what: 'skipped email recorded' });
        assert.ok(summary);
        assert.equal(summary.state, 'skipped');
        assert.ok(skipped.automated);
        assert.equal(summary.outcome, `skipped: ${skipped.automated}`);
      }
      await waitFor(async () => (await pipeline.activity.getEmail(first.email.email_id))?.state === 'received', { what: 'received recorded' });

      const { messageCount } = await raw.channel.checkQueue(QUEUES.toClassify);
      assert.equal(messageCount, 1, 'one message in emails.to_classify');
      const { body, priority } = await getMessage<{ email: { email_id: string; priority: number } }>(raw.channel, QUEUES.toClassify);
      assert.equal(body.email.email_id, first.email.email_id);
      assert.equal(priority, body.email.priority);
      assert.equal((await pipeline.activity.timeline(first.email.email_id)).filter((event) => event.stage === 'received').length, 1);
    } finally {
      await raw.close();
    }
  });
});
