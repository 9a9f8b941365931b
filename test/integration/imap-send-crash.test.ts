/**
 * The crash window of a send over IMAP/SMTP (issue 13): between SMTP's acceptance of a reply and
 * its copy in the Sent folder the reply is out, but the Sent-folder check before a send cannot see
 * it. The mailbox reports that moment, the sender records it in the send ledger, and a sender that
 * takes over such a send files the copy without sending the reply again. A sender that died inside
 * the SMTP transaction (the server's answer not yet read, or not yet written down) leaves only its
 * start recorded: the next one cannot know whether the reply left, so it hands it to review as a
 * draft instead of sending it again. Against a private
 * Dovecot and Postfix; the same window with real SIGKILLs is in test/faults/smtp-exactly-once.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImapMailbox } from '../../src/providers/mailbox/imap.js';
import { createImapMailbox } from '../../src/providers/mailbox/imap.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { toSend } from '../../src/pipeline/stages.js';
import { DELIVERY_UNCERTAIN_REASON } from '../../src/roles/sender.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { sendMessage, waitForSettled, withPipeline } from '../helpers/pipeline.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';

const unavailable = privateMailServersUnavailable();
const USERS: MailUser[] = [
  { address: 'support@acme.example', password: 'acme-secret' },
  { address: 'help@acme.example', password: 'help-secret' },
  { address: 'care@acme.example', password: 'care-secret' },
];
let servers: PrivateMailServers | undefined;

before(async () => {
  if (!unavailable) servers = await startPrivateMailServers(USERS);
});
after(async () => {
  await servers?.stop();
});

/** Stands for the process dying at the moment the mailbox reported: nothing after it runs. */
class Died extends Error {}

/** The start of the SMTP transaction, where a test does not record it. */
const UNRECORDED = { transmitting: async () => undefined, transmissionFailed: async () => undefined };

function mailboxFor(user: MailUser): ImapMailbox {
  const { host, imapPort, smtpPort } = servers!;
  return createImapMailbox({
    address: user.address,
    imap: { host, port: imapPort, tls: 'none', user: user.address, password: user.password },
    smtp: { host, port: smtpPort, tls: 'none', user: user.address, password: user.password },
    timeoutMs: 10_000,
  });
}

/** The customers' copies of the reply with this Message-ID, once delivery after SMTP has had time to happen. */
async function deliveredCopies(messageId: string, expectAtLeast: number): Promise<number> {
  const count = () => servers!.outside().filter((raw) => raw.includes(messageId)).length;
  const deadline = Date.now() + 15_000;
  while (count() < expectAtLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  // A second copy would come as quickly as the first did.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return count();
}

test(
  'send reports the reply transmitted after SMTP accepted it and before its Sent copy; fileSent then files the copy once and sends nothing',
  { skip: unavailable, timeout: 60_000 },
  async () => {
    const user = USERS[0]!;
    const mailbox = mailboxFor(user);
    try {
      const message = await sendMessage(user.address, makeEmail({ from: 'ana@example.org', to: user.address, subject: 'Hinge' }));
      const reply = { email: message.email, message_id: replyMessageId(mailboxKeyOf(message.email), user.address), subject: 'Re: Hinge', body: 'Tighten it.' };
      let copiesWhenTransmitted: number | undefined;
      await assert.rejects(
        mailbox.send(reply, {
          ...UNRECORDED,
          transmitted: async () => {
            copiesWhenTransmitted = (await servers!.folder(user, 'Sent')).length;
            throw new Died();
          },
        }),
        Died,
      );
      assert.equal(copiesWhenTransmitted, 0, 'reported before the Sent copy');
      assert.equal(await deliveredCopies(reply.message_id, 1), 1, 'SMTP had accepted the reply: the customer gets it');
      assert.equal(await mailbox.findReply(user.address, reply.message_id), null, 'the window: the Sent folder cannot tell it went out');

      await mailbox.fileSent(reply);
      await mailbox.fileSent(reply);
      assert.equal((await servers!.folder(user, 'Sent')).length, 1, 'one copy, however often it is filed');
      assert.equal(await mailbox.findReply(user.address, reply.message_id), 'sent');
      assert.equal(await deliveredCopies(reply.message_id, 1), 1, 'filing sends nothing');
    } finally {
      await mailbox.close();
    }
  },
);

test(
  'a sender that died after SMTP accepted its reply and before the Sent copy: the redelivered message files the copy, records the reply sent, and does not send it again',
  { skip: unavailable, timeout: 90_000 },
  async () => {
    const user = USERS[1]!;
    const { host, imapPort, smtpPort } = servers!;
    await withPipeline(
      ['sender', 'recorder'],
      {
        MAILBOX_PROVIDER: 'imap',
        IMAP_HOST: host,
        IMAP_PORT: String(imapPort),
        IMAP_TLS: 'none',
        IMAP_USER: user.address,
        IMAP_PASSWORD: user.password,
        SMTP_PORT: String(smtpPort),
        SMTP_TLS: 'none',
        SEND_POLICY: 'auto',
      },
      async (pipeline) => {
        const message = await sendMessage(user.address, makeEmail({ from: 'ben@example.org', to: user.address, subject: 'Router reset' }));
        const { email } = message;
        const reply = {
          email,
          message_id: replyMessageId(mailboxKeyOf(email), user.address),
          subject: message.generated_response.subject,
          body: message.generated_response.body,
        };
        const { mailbox } = pipeline.worker.services;
        const [sendClaims, sendLedger] = [await pipeline.worker.services.sendClaims(), await pipeline.worker.services.sendLedger()];
        // What the dying sender got done: its claim, the SMTP transaction, the record of it; no Sent copy.
        assert.equal(await sendClaims.claim(email.email_id, 'dead-host:1:sender', 60_000), 'claimed');
        await assert.rejects(
          mailbox.send(reply, {
            transmitting: () => sendClaims.transmitting(email.email_id, reply.message_id),
            transmissionFailed: () => sendClaims.transmissionFailed(email.email_id),
            transmitted: async () => {
              await sendClaims.transmitted(email.email_id, reply.message_id);
              throw new Died();
            },
          }),
          Died,
        );
        await sendClaims.release(email.email_id, 'dead-host:1:sender');

        await pipeline.worker.broker.publish(toSend, message);
        const [settled] = await waitForSettled(pipeline, 'sender', 1);
        assert.equal(settled?.status, 'sent', `the send is finished (${settled?.status} ${JSON.stringify(settled)})`);
        assert.equal(await deliveredCopies(reply.message_id, 1), 1, 'the customer got the reply once');
        assert.equal((await servers!.folder(user, 'Sent')).length, 1, 'and its Sent copy is filed');
        assert.equal((await sendLedger.get(email.email_id))?.status, 'sent');
        const sent = async () => (await pipeline.activity.timeline(email.email_id)).find((event) => event.stage === 'sent');
        const deadline = Date.now() + 10_000;
        while (!(await sent()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(((await sent())?.detail as { transmitted_earlier?: boolean } | undefined)?.transmitted_earlier, true, 'the sent event says so');
      },
    );
  },
);

test(
  'a sender that died inside the SMTP transaction (the reply accepted, not yet recorded): the redelivered message hands it to review as a draft with the uncertain reason, and does not send it again',
  { skip: unavailable, timeout: 90_000 },
  async () => {
    const user = USERS[2]!;
    const { host, imapPort, smtpPort } = servers!;
    await withPipeline(
      ['sender', 'recorder'],
      {
        MAILBOX_PROVIDER: 'imap',
        IMAP_HOST: host,
        IMAP_PORT: String(imapPort),
        IMAP_TLS: 'none',
        IMAP_USER: user.address,
        IMAP_PASSWORD: user.password,
        SMTP_PORT: String(smtpPort),
        SMTP_TLS: 'none',
        SEND_POLICY: 'auto',
      },
      async (pipeline) => {
        const message = await sendMessage(user.address, makeEmail({ from: 'cy@example.org', to: user.address, subject: 'Lost manual' }));
        const { email } = message;
        const reply = {
          email,
          message_id: replyMessageId(mailboxKeyOf(email), user.address),
          subject: message.generated_response.subject,
          body: message.generated_response.body,
        };
        const { mailbox } = pipeline.worker.services;
        const [sendClaims, sendLedger] = [await pipeline.worker.services.sendClaims(), await pipeline.worker.services.sendLedger()];
        // What the dying sender got done: its claim, the start of the SMTP transaction, the transaction; not the record of its end.
        assert.equal(await sendClaims.claim(email.email_id, 'dead-host:1:sender', 60_000), 'claimed');
        await assert.rejects(
          mailbox.send(reply, {
            transmitting: () => sendClaims.transmitting(email.email_id, reply.message_id),
            transmissionFailed: () => sendClaims.transmissionFailed(email.email_id),
            transmitted: async () => {
              throw new Died();
            },
          }),
          Died,
        );
        await sendClaims.release(email.email_id, 'dead-host:1:sender');

        await pipeline.worker.broker.publish(toSend, message);
        const [settled] = await waitForSettled(pipeline, 'sender', 1);
        assert.equal(settled?.status, 'handed_off', `the reply goes to review (${settled?.status} ${JSON.stringify(settled)})`);
        assert.equal(await deliveredCopies(reply.message_id, 1), 1, 'the customer got the reply once, from the dead sender');
        assert.equal((await servers!.folder(user, 'Sent')).length, 0, 'nothing says it was sent');
        assert.equal(
          (await servers!.folder(user, 'Drafts')).filter((stored) => stored.raw.includes(reply.message_id)).length,
          1,
          'the reply as written is a draft',
        );
        assert.equal((await sendLedger.get(email.email_id))?.status, 'sent', 'the send is settled: a redelivery does nothing more');
        const handedOff = async () => (await pipeline.activity.timeline(email.email_id)).find((event) => event.stage === 'handed_off');
        const deadline = Date.now() + 10_000;
        while (!(await handedOff()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(((await handedOff())?.detail as { reason?: string } | undefined)?.reason, DELIVERY_UNCERTAIN_REASON, 'the review says why');
      },
    );
  },
);
