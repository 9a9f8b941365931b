/**
 * The contract every Mailbox passes (Maildir on disk, Gmail behind its loopback fake): new mail
 * is read and parsed, taken once, replies go out in the thread to the right address, sends and
 * drafts are found again by their Message-ID (a send of two steps reporting the moment between
 * them), and automated mail is flagged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import { mailboxKeyOf, type Email } from '../../src/pipeline/messages.js';
import { replyMessageId, replySubject } from '../../src/providers/mailbox/mime.js';
import type { Mailbox, OutgoingReply } from '../../src/providers/mailbox/spec.js';
import { makeEmail } from '../helpers/email-fixtures.js';

/** A mailbox made fresh for one test, with the hands a test needs around it. */
export interface MailboxFixture {
  mailbox: Mailbox;
  /** The address the mailbox serves; delivered mail is addressed to it. */
  agentEmail: string;
  /** Puts a raw RFC 5322 message in the mailbox as new mail. */
  deliver(raw: string): Promise<void>;
  /** Raw messages sent so far. */
  sent(): Promise<string[]>;
  /** Raw drafts saved so far. */
  drafts(): Promise<string[]>;
  dispose(): Promise<void>;
}

function replyTo(email: Email, body = 'Hold the reset button for 10 seconds.'): OutgoingReply {
  return { email, message_id: replyMessageId(mailboxKeyOf(email), email.agent_email), subject: replySubject(email.subject), body };
}

/** Registers the contract's tests for one implementation; `makeMailbox` gives each test an empty mailbox. */
export function mailboxContract(name: string, makeMailbox: () => Promise<MailboxFixture>): void {
  async function withMailbox(body: (fixture: MailboxFixture) => Promise<void>): Promise<void> {
    const fixture = await makeMailbox();
    try {
      await body(fixture);
    } finally {
      await fixture.dispose();
    }
  }

  test(`${name}: new mail is fetched parsed, and once taken is not fetched again`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver }) => {
      await deliver(
        makeEmail({
          from: 'Dana Customer <dana@example.net>',
          to: agentEmail,
          subject: 'Router password',
          body: 'How do I reset my router password?\n',
          messageId: '<question-1@example.net>',
        }),
      );
      assert.ok((await mailbox.addresses()).includes(agentEmail), 'the mailbox serves its address');
      const [incoming, ...more] = await mailbox.fetchNew(10);
      assert.equal(more.length, 0);
      const { email } = incoming;
      assert.equal(mailboxKeyOf(email), 'question-1@example.net');
      assert.match(email.email_id, /^[a-p]{32}$/);
      assert.equal(email.message_id_header, '<question-1@example.net>');
      assert.equal(email.from, 'dana@example.net');
      assert.equal(email.agent_email, agentEmail);
      assert.equal(email.subject, 'Router password');
      assert.equal(email.body.trim(), 'How do I reset my router password?');
      assert.ok(email.thread_id, 'the email belongs to a thread');
      assert.ok(email.mailbox_ref.length > 0);
      assert.equal(incoming.automated, null);

      assert.equal((await mailbox.fetchNew(10)).length, 1, 'fetching does not take');
      await mailbox.markTaken(email);
      assert.deepEqual(await mailbox.fetchNew(10), [], 'a taken email is not fetched again');
      await mailbox.markTaken(email); // a redelivered take is harmless
    }));

  test(`${name}: fetchNew returns the oldest first, at most limit`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver }) => {
      for (const subject of ['first', 'second', 'third']) await deliver(makeEmail({ to: agentEmail, subject }));
      assert.deepEqual(
        (await mailbox.fetchNew(2)).map((incoming) => incoming.email.subject),
        ['first', 'second'],
      );
      assert.deepEqual(
        (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
        ['first', 'second', 'third'],
      );
    }));

  test(`${name}: a sent reply threads, goes to Reply-To, and findReply then says 'sent'`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver, sent, drafts }) => {
      await deliver(
        makeEmail({
          from: 'dana@example.net',
          to: agentEmail,
          subject: 'Router password',
          messageId: '<question-2@example.net>',
          headers: { 'Reply-To': 'Dana Desk <desk@example.net>' },
        }),
      );
      const [{ email }] = await mailbox.fetchNew(10);
      const reply = replyTo(email);
      assert.equal(await mailbox.findReply(agentEmail, reply.message_id), null, 'nothing sent yet');
      const { id } = await mailbox.send(reply);
      assert.ok(id);
      assert.equal(await mailbox.findReply(agentEmail, reply.message_id), 'sent');
      assert.equal(await mailbox.findReply(agentEmail, replyMessageId('other@example.net', agentEmail)), null);
      assert.deepEqual(await drafts(), []);

      const [raw] = await sent();
      const parsed = await PostalMime.parse(raw);
      assert.deepEqual(
        parsed.to?.map((address) => address.address),
        ['desk@example.net'],
        'Reply-To wins over From',
      );
      assert.equal(parsed.from?.address, agentEmail);
      assert.equal(`<${parsed.messageId?.replace(/^<|>$/g, '')}>`, reply.message_id);
      assert.equal(parsed.inReplyTo, '<question-2@example.net>');
      assert.equal(parsed.subject, 'Re: Router password');
      assert.match(parsed.text ?? '', /reset button/);
    }));

  test(`${name}: a send of two steps reports its SMTP transaction beginning, then the reply transmitted once, before it can be found; fileSent then sends nothing more`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver, sent }) => {
      await deliver(makeEmail({ from: 'kim@example.org', to: agentEmail, subject: 'Firmware' }));
      const [{ email }] = await mailbox.fetchNew(10);
      const reply = replyTo(email, 'Update the firmware from the app.');
      const reported: string[] = [];
      await mailbox.send(reply, {
        transmitting: async () => void reported.push(`transmitting, ${(await sent()).length} out`),
        transmissionFailed: async () => void reported.push('failed'),
        transmitted: async () => void reported.push(`transmitted, found ${await mailbox.findReply(agentEmail, reply.message_id)}`),
      });
      if (mailbox.fileSent) {
        // The moments a sender records: before anything left, and once the reply is out while nothing else says so yet.
        assert.deepEqual(reported, ['transmitting, 0 out', 'transmitted, found null'], 'reported once each, in order, before the reply can be found');
        await mailbox.fileSent(reply);
      } else {
        assert.deepEqual(reported, [], 'a send of one step has no moment to report');
      }
      assert.equal(await mailbox.findReply(agentEmail, reply.message_id), 'sent');
      assert.equal((await sent()).length, 1, 'one reply went out');
    }));

  test(`${name}: a reply without Reply-To goes to the sender; a saved draft is found as 'draft'`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver, sent, drafts }) => {
      await deliver(makeEmail({ from: 'Lee <lee@example.org>', to: agentEmail, subject: 'Warranty' }));
      const [{ email }] = await mailbox.fetchNew(10);
      const reply = replyTo(email, 'The warranty lasts 2 years.');
      await mailbox.saveDraft(reply);
      assert.equal(await mailbox.findReply(agentEmail, reply.message_id), 'draft');
      assert.deepEqual(await sent(), [], 'a draft is not sent');
      const [raw] = await drafts();
      const parsed = await PostalMime.parse(raw);
      assert.deepEqual(
        parsed.to?.map((address) => address.address),
        ['lee@example.org'],
      );
      assert.ok(parsed.headers.some((header) => header.key === 'x-ragmail-status' && header.value === 'draft'));
    }));

  test(`${name}: deleteDraft removes only that reply's draft, the sent reply stays, and a missing draft is no error`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver, sent, drafts }) => {
      await deliver(makeEmail({ from: 'lee@example.org', to: agentEmail, subject: 'Warranty', messageId: '<question-3@example.net>' }));
      await deliver(makeEmail({ from: 'kim@example.org', to: agentEmail, subject: 'Firmware', messageId: '<question-4@example.net>' }));
      const [first, second] = (await mailbox.fetchNew(10)).map((incoming) => incoming.email);
      const approved = replyTo(first, 'Draft text.');
      const other = replyTo(second, 'Another draft.');
      await mailbox.saveDraft(approved);
      await mailbox.saveDraft(other);
      // A reviewer approved the first: its (edited) reply goes out under the same Message-ID, then its draft goes.
      await mailbox.send({ ...approved, body: 'Approved text.' });
      assert.equal(await mailbox.deleteDraft(agentEmail, approved.message_id), true);

      assert.equal(await mailbox.findReply(agentEmail, approved.message_id), 'sent');
      assert.equal(await mailbox.findReply(agentEmail, other.message_id), 'draft', 'the other draft is untouched');
      const [remaining, ...moreDrafts] = await drafts();
      assert.equal(moreDrafts.length, 0);
      assert.match((await PostalMime.parse(remaining)).text ?? '', /Another draft/);
      const outbox = await sent();
      assert.equal(outbox.length, 1);
      assert.match((await PostalMime.parse(outbox[0])).text ?? '', /Approved text/);

      assert.equal(await mailbox.deleteDraft(agentEmail, approved.message_id), false, 'deleting again is no error');
      assert.equal(await mailbox.deleteDraft(agentEmail, replyMessageId('never@example.net', agentEmail)), false);
      assert.equal(await mailbox.findReply(agentEmail, approved.message_id), 'sent');
    }));

  test(`${name}: automated mail is flagged with the reason`, () =>
    withMailbox(async ({ mailbox, agentEmail, deliver }) => {
      await deliver(makeEmail({ to: agentEmail, subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' } }));
      await deliver(makeEmail({ from: 'no-reply@shop.example', to: agentEmail, subject: 'Your order' }));
      await deliver(makeEmail({ to: agentEmail, subject: 'A real question' }));
      const fetched = await mailbox.fetchNew(10);
      assert.deepEqual(
        fetched.map((incoming) => [incoming.email.subject, incoming.automated !== null]),
        [
          ['Out of office', true],
          ['Your order', true],
          ['A real question', false],
        ],
      );
      assert.match(fetched[0].automated ?? '', /Auto-Submitted/);
    }));
}
