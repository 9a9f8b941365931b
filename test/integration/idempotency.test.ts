/**
 * At-least-once delivery without double replies (docs/ARCHITECTURE.md#idempotency): redelivered send messages, an
 * email going through the pipeline twice, a sender that crashed between sending and acking, and
 * our own replies coming back into the inbox.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { mailboxKeyOf, type ToClassifyMessage } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { waitFor } from '../helpers/broker.js';
import { deliverEmail, filesIn, readReplies, sendMessage, waitForFinalStates, type Pipeline, withPipeline } from '../helpers/pipeline.js';
import type { RoleName } from '../../src/app/registry.js';
import { toClassify, toSend } from '../../src/pipeline/stages.js';

const MAILBOX = 'support@widgets.example';
const QUESTION = makeEmail({
  from: 'customer@example.com',
  to: MAILBOX,
  subject: 'How do I reset my router?',
  body: 'Hello, how do I reset my X200 router to factory settings?\n',
});

/** Statuses of the messages `role` finished (acked or dead-lettered), retries left out. */
async function finishedStatuses(pipeline: Pipeline, role: RoleName, count: number): Promise<string[]> {
  const finished = () => (pipeline.settled.get(role) ?? []).filter((info) => info.outcome !== 'retried');
  await waitFor(() => finished().length >= count, { timeoutMs: 30_000, what: `${count} messages finished by ${role}` });
  return finished().map((info) => info.status);
}

const outbox = (pipeline: Pipeline, folder: 'outbox' | 'drafts' = 'outbox') => filesIn(path.join(pipeline.vhost.config.MAILDIR_ROOT, MAILBOX, folder), '.eml');

test('the same emails.to_send message delivered twice leaves exactly one .eml in the outbox', { timeout: 60_000 }, async () => {
  await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'auto' }, async (pipeline) => {
    const message = await sendMessage(MAILBOX, QUESTION);
    await pipeline.worker.broker.publish(toSend, message);
    await pipeline.worker.broker.publish(toSend, message);
    assert.deepEqual((await finishedStatuses(pipeline, 'sender', 2)).sort(), ['duplicate', 'sent']);
    assert.equal((await outbox(pipeline)).length, 1);
    assert.equal((await outbox(pipeline, 'drafts')).length, 0);
    await waitFor(async () => (await pipeline.activity.getEmail(message.email.email_id))?.state === 'sent', { what: 'sent recorded' });
    assert.equal((await pipeline.activity.timeline(message.email.email_id)).filter((event) => event.stage === 'sent').length, 1, 'one sent event');
  });
});

test('the same email (same Message-ID) through the whole pipeline twice gets one reply', { timeout: 90_000 }, async () => {
  await withPipeline(ROLE_NAMES, { SEND_POLICY: 'auto' }, async (pipeline) => {
    const first = await deliverEmail(pipeline, MAILBOX, QUESTION);
    await waitForFinalStates(pipeline, [first.email.email_id], 30_000);
    assert.equal((await readReplies(pipeline, MAILBOX)).length, 1);

    // Once more through the inbox, and once more straight into the pipeline past the poller's record.
    await deliverEmail(pipeline, MAILBOX, QUESTION);
    await waitFor(async () => (await filesIn(path.join(pipeline.vhost.config.MAILDIR_ROOT, MAILBOX, 'new'))).length === 0, { what: 'second copy taken' });
    const again: ToClassifyMessage = { message_id: 'replayed-1', timestamp: new Date().toISOString(), original_message_id: null, email: first.email };
    await pipeline.worker.broker.publish(toClassify, again, { priority: first.email.priority });
    const statuses = await finishedStatuses(pipeline, 'sender', 2);
    assert.equal(statuses[1], 'duplicate', `sender statuses ${statuses}`);

    const replies = await readReplies(pipeline, MAILBOX);
    assert.equal(replies.length, 1, 'one reply');
    assert.equal(replies[0].parsed.inReplyTo, first.email.message_id_header);
    assert.equal(
      (await pipeline.activity.timeline(first.email.email_id)).filter((event) => event.stage === 'received').length,
      1,
      'the poller published it once',
    );
  });
});

test('one email sent to two support addresses gets one reply from each, kept apart in ledger, claims and activity', { timeout: 120_000 }, async () => {
  const SALES = 'sales@widgets.example';
  const toBoth = makeEmail({
    from: 'customer@example.com',
    to: `${MAILBOX}, ${SALES}`,
    subject: 'How do I reset my router?',
    body: 'Hello, how do I reset my X200 router?\n',
  });
  await withPipeline(ROLE_NAMES, { SEND_POLICY: 'auto' }, async (pipeline) => {
    const support = await deliverEmail(pipeline, MAILBOX, toBoth);
    const sales = await deliverEmail(pipeline, SALES, toBoth);
    assert.notEqual(support.email.email_id, sales.email.email_id, 'one email id per mailbox');
    const summaries = await waitForFinalStates(pipeline, [support.email.email_id, sales.email.email_id], 60_000);
    const ledger = new SendLedger(pipeline.database);
    for (const [mailbox, delivered] of [
      [MAILBOX, support],
      [SALES, sales],
    ] as const) {
      const summary = summaries.get(delivered.email.email_id)!;
      // No manuals here: the answer may be a hand-off, which goes out as a reply all the same.
      assert.ok(['sent', 'handed_off'].includes(summary.state), `${mailbox}: ${summary.state} ${summary.outcome}`);
      assert.equal(summary.agent_email, mailbox);
      const replies = await readReplies(pipeline, mailbox);
      assert.equal(replies.length, 1, `one reply from ${mailbox}`);
      assert.equal(replies[0]!.parsed.inReplyTo, delivered.email.message_id_header);
      const replyId = replyMessageId(mailboxKeyOf(delivered.email), mailbox);
      assert.equal(replies[0]!.parsed.messageId, replyId);
      const record = await ledger.get(delivered.email.email_id);
      assert.deepEqual([record?.status, record?.message_id], ['sent', replyId], `the ledger of ${mailbox}`);
      assert.equal(await ledger.claim(delivered.email.email_id, 'another-sender', 60_000), 'done');
      const timeline = await pipeline.activity.timeline(delivered.email.email_id);
      assert.equal(timeline.filter((event) => event.stage === 'received').length, 1);
      assert.ok(
        timeline.every((event) => event.agent_email === null || event.agent_email === mailbox),
        `${mailbox}'s timeline holds its own events only`,
      );
    }
  });
});

test(
  'a sender killed between send and ack: the redelivered message finds the reply (duplicate) and the outbox keeps one file',
  { timeout: 60_000 },
  async () => {
    await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'auto' }, async (pipeline) => {
      const message = await sendMessage(MAILBOX, QUESTION);
      // What the crashed sender got done: the reply, under its deterministic Message-ID, is in the outbox.
      const messageId = replyMessageId(mailboxKeyOf(message.email), MAILBOX);
      await pipeline.worker.services.mailbox.send({
        email: message.email,
        message_id: messageId,
        subject: message.generated_response.subject,
        body: message.generated_response.body,
      });
      const [file] = await outbox(pipeline);
      const before = { content: await readFile(file), modified: (await stat(file)).mtimeMs };

      await pipeline.worker.broker.publish(toSend, message);
      assert.deepEqual(await finishedStatuses(pipeline, 'sender', 1), ['duplicate']);
      assert.deepEqual(await outbox(pipeline), [file]);
      assert.deepEqual(await outbox(pipeline, 'drafts'), []);
      assert.deepEqual(await readFile(file), before.content);
      assert.equal((await stat(file)).mtimeMs, before.modified);
      const ledger = await new SendLedger(pipeline.database).get(message.email.email_id);
      assert.equal(ledger?.status, 'sent');
      assert.equal(ledger?.message_id, messageId);
    });
  },
);

test('loop prevention: our own reply dropped back into new/ is skipped, not answered', { timeout: 90_000 }, async () => {
  await withPipeline(ROLE_NAMES, { SEND_POLICY: 'auto' }, async (pipeline) => {
    const question = await deliverEmail(pipeline, MAILBOX, QUESTION);
    await waitForFinalStates(pipeline, [question.email.email_id], 30_000);
    const [reply] = await readReplies(pipeline, MAILBOX);
    assert.ok(reply, 'the question was answered');
    assert.equal(reply.headers['auto-submitted'], 'auto-replied');
    assert.equal(reply.parsed.from?.address, MAILBOX);

    const echo = await deliverEmail(pipeline, MAILBOX, await readFile(reply.file));
    // Even without the header, mail from the mailbox itself is never answered.
    const self = await deliverEmail(pipeline, MAILBOX, makeEmail({ from: MAILBOX, to: MAILBOX, subject: 'Note to self: how do I reset the router?' }));
    const summaries = await waitForFinalStates(pipeline, [echo.email.email_id, self.email.email_id], 30_000);
    assert.equal(summaries.get(echo.email.email_id)?.state, 'skipped');
    assert.match(summaries.get(echo.email.email_id)?.outcome ?? '', /Auto-Submitted/);
    assert.equal(summaries.get(self.email.email_id)?.state, 'skipped');
    assert.match(summaries.get(self.email.email_id)?.outcome ?? '', /sent by the mailbox itself/);

    assert.equal((pipeline.settled.get('classifier') ?? []).length, 1, 'only the customer question reached the classifier');
    assert.equal((await readReplies(pipeline, MAILBOX)).length, 1, 'no reply to our own mail');
  });
});
