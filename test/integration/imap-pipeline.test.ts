/**
 * The whole pipeline with MAILBOX_PROVIDER=imap against real mail servers: the sample emails of
 * support@acme.example are mailed through a private Postfix into a private Dovecot, every role runs
 * in this process on the real RabbitMQ, and what became of each email is read back from the
 * activity log, the customers' mail (what Postfix delivered), and the Sent, Drafts and INBOX
 * folders over IMAP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import PostalMime from 'postal-mime';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { parseEmail } from '../../src/providers/mailbox/mime.js';
import { TAKEN_KEYWORD } from '../../src/providers/mailbox/imap.js';
import { ACME, SAMPLES, filesIn, ingestSampleManuals, recipientsOf, startPipeline, waitForFinalStates, type Pipeline } from '../helpers/pipeline.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';

const unavailable = privateMailServersUnavailable();
const SUPPORT: MailUser = { address: ACME, password: 'acme-secret' };
let servers: PrivateMailServers | undefined;

before(async () => {
  if (!unavailable) servers = await startPrivateMailServers([SUPPORT]);
});
after(async () => {
  await servers?.stop();
});

test(
  'the sample emails go in over SMTP and IMAP and come out as replies over SMTP (with Sent copies) and drafts in Drafts',
  { skip: unavailable, timeout: 180_000 },
  async (context) => {
    const { host, imapPort, smtpPort } = servers!;
    let pipeline: Pipeline | undefined;
    try {
      pipeline = await startPipeline(ROLE_NAMES, {
        MAILBOX_PROVIDER: 'imap',
        IMAP_HOST: host,
        IMAP_PORT: String(imapPort),
        IMAP_TLS: 'none',
        IMAP_USER: SUPPORT.address,
        IMAP_PASSWORD: SUPPORT.password,
        SMTP_PORT: String(smtpPort),
        SMTP_TLS: 'none',
        SEND_POLICY: 'auto',
        // IDLE wakes the poller: with a 10-minute fallback the run would miss its deadline without it.
        POLL_INTERVAL_MS: '600000',
      });
      assert.equal(pipeline.worker.services.mailbox.provider, 'imap');
      await ingestSampleManuals(pipeline);

      const samples = await filesIn(path.join(SAMPLES, 'emails', ACME), '.eml');
      assert.equal(samples.length, 11);
      const emails = new Map<string, Awaited<ReturnType<typeof parseEmail>>['email']>();
      for (const file of samples) {
        const raw = await readFile(file);
        await servers!.deliver(SUPPORT, raw);
        emails.set(path.basename(file), (await parseEmail(raw, { agentEmail: ACME, mailboxRef: 'sample' })).email);
      }
      const summaries = await waitForFinalStates(
        pipeline,
        [...emails.values()].map((email) => email.email_id),
        120_000,
      );
      const stateOf = (name: string) => summaries.get(emails.get(name)!.email_id)!;
      for (const [name, email] of emails) {
        const summary = summaries.get(email.email_id)!;
        assert.notEqual(summary.state, 'dead_lettered', `${name} was dead-lettered: ${summary.error_message}`);
      }
      assert.equal(stateOf('07-newsletter.eml').state, 'skipped');
      assert.equal(stateOf('08-out-of-office.eml').state, 'skipped');
      assert.equal(stateOf('09-spam-prize.eml').state, 'ignored');
      assert.equal(stateOf('06-zigbee-question.eml').state, 'handed_off');

      const sentNames = [...emails.keys()].filter((name) => stateOf(name).state === 'sent');
      const draftNames = [...emails.keys()].filter((name) => ['drafted', 'handed_off'].includes(stateOf(name).state));
      context.diagnostic(`sent ${sentNames.length}, drafted or handed off ${draftNames.length}, of ${emails.size}`);
      assert.ok(sentNames.length > 0, `some replies were sent: ${[...emails.keys()].map((name) => `${name}=${stateOf(name).state}`).join(', ')}`);

      // Every sent reply reached its customer once, in the thread, and has one copy in Sent.
      const outside = await Promise.all(servers!.outside().map((raw) => PostalMime.parse(raw)));
      const sentCopies = await Promise.all(
        (await servers!.folder(SUPPORT, 'Sent')).map(async (stored) => ({ ...stored, parsed: await PostalMime.parse(stored.raw) })),
      );
      assert.equal(outside.length, sentNames.length, 'one delivered reply per sent email');
      assert.equal(sentCopies.length, sentNames.length, 'one Sent copy per sent email');
      for (const name of sentNames) {
        const email = emails.get(name)!;
        const delivered = outside.filter((parsed) => parsed.inReplyTo === email.message_id_header);
        assert.equal(delivered.length, 1, `one reply to ${name} delivered`);
        const expected = name === '10-warranty-rma-reply-to.eml' ? 'dana@whitfield-home.example' : email.from;
        assert.deepEqual(recipientsOf(delivered[0]!), [expected], `recipient of the reply to ${name}`);
        assert.equal(delivered[0]!.from?.address, ACME);
        const copy = sentCopies.find((stored) => stored.parsed.messageId === delivered[0]!.messageId);
        assert.ok(copy, `the Sent copy of the reply to ${name}`);
        assert.ok(copy.flags.has('\\Seen'));
      }

      // Every draft is in Drafts with \Draft, and nothing of it went out.
      const drafts = await Promise.all(
        (await servers!.folder(SUPPORT, 'Drafts')).map(async (stored) => ({ ...stored, parsed: await PostalMime.parse(stored.raw) })),
      );
      assert.equal(drafts.length, draftNames.length, 'one draft per drafted or handed-off email');
      for (const name of draftNames) {
        const draft = drafts.find((stored) => stored.parsed.inReplyTo === emails.get(name)!.message_id_header);
        assert.ok(draft, `the draft of the reply to ${name}`);
        assert.ok(draft.flags.has('\\Draft'));
        assert.ok(!outside.some((parsed) => parsed.inReplyTo === emails.get(name)!.message_id_header), `no reply to ${name} delivered`);
      }

      // Every email was taken, the automated ones too; none is left for the next poll.
      const inbox = await servers!.folder(SUPPORT, 'INBOX');
      assert.equal(inbox.length, samples.length);
      assert.ok(
        inbox.every((stored) => stored.flags.has(TAKEN_KEYWORD)),
        'every INBOX message carries the taken keyword',
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${servers?.logs().slice(-4000)}`, { cause: error });
    } finally {
      await pipeline?.close();
    }
  },
);
