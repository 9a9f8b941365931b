/**
 * The books of the fault suite must be able to fail: given a run's evidence made by hand (reply
 * files written through the Maildir mailbox, events in the activity log, dead letters), they call
 * each kind of damage by its name — a lost email, a reply written twice or logged twice, a reply
 * the log missed, a reply where none was due, copies of one sample ending differently, a reply to
 * no email of the run — and every check of `assertAccounted` fails on its own kind alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DeadLetterEntry } from '../../src/messaging/dead-letters.js';
import { createMaildirMailbox, replyFileName } from '../../src/providers/mailbox/maildir.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { parseEmail, replyMessageId } from '../../src/providers/mailbox/mime.js';
import { openDatabase } from '../../src/store/database.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { waitFor } from '../helpers/broker.js';
import { accountFor, assertAccounted, type FaultReport } from '../helpers/fault-accounting.js';
import type { CorpusEmail } from '../helpers/fault-corpus.js';
import { ReplyWatch } from '../helpers/reply-watch.js';

const MAILBOX = 'support@acme.example';

test('the fault books name every kind of damage: lost, sent twice (two writes, two sent events), missing from the log, wrong end, unlike ends of one sample, stray reply; each check of assertAccounted fails alone', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ragmail-books-'));
  const database = await openDatabase(path.join(root, 'ragmail.db'));
  const watch = new ReplyWatch(path.join(root, 'maildir'), [MAILBOX]);
  try {
    const activity = new ActivityLog(database);
    const mailbox = createMaildirMailbox({ root: path.join(root, 'maildir') });
    const emails = new Map<string, CorpusEmail>();
    const build = async (name: string, expectsReply = true, sample = name) => {
      const raw = Buffer.from(makeEmail({ messageId: `<${name}.${randomUUID()}@customers.example>` }));
      const { email } = await parseEmail(raw, { agentEmail: MAILBOX, mailboxRef: name });
      emails.set(name, { sample, mailbox: MAILBOX, raw, emailId: email.email_id, mailboxKey: mailboxKeyOf(email), expectsReply });
      return email;
    };
    const replyKey = (mailboxKey: string, folder = 'outbox') => `${MAILBOX}/${folder}/${replyFileName(replyMessageId(mailboxKey, MAILBOX))}`;
    const log = (name: string, stage: string) =>
      activity.record({
        event_id: randomUUID(),
        timestamp: new Date().toISOString(),
        stage,
        email_id: emails.get(name)!.emailId,
        document_id: null,
        agent_email: MAILBOX,
        role: 'test',
        duration_ms: null,
        provider: null,
        model: null,
        detail: {},
      });
    const send = async (name: string, as: 'send' | 'saveDraft' = 'send') => {
      const email = emails.get(name)!;
      const { email: parsed } = await parseEmail(email.raw, { agentEmail: MAILBOX, mailboxRef: name });
      await mailbox[as]({
        email: parsed,
        message_id: replyMessageId(mailboxKeyOf(parsed), MAILBOX),
        subject: 'Re: A question',
        body: 'Hold the reset button.',
      });
    };

    for (const name of ['fine', 'lost', 'unlogged', 'written-twice', 'logged-twice', 'wrongly-ignored', 'dead-lettered']) await build(name);
    await build('wrongly-answered', false);
    // Two copies of one sample, each replied once, but one sent and the other drafted.
    await build('twin-sent', true, 'twin');
    await build('twin-drafted', true, 'twin');
    for (const name of ['fine', 'written-twice', 'logged-twice', 'wrongly-answered', 'twin-sent']) {
      await send(name);
      await log(name, 'sent');
    }
    await send('twin-drafted', 'saveDraft');
    await log('twin-drafted', 'drafted');
    await send('unlogged');
    await log('unlogged', 'replied');
    await log('lost', 'replied');
    await log('logged-twice', 'sent');
    await log('wrongly-ignored', 'ignored');
    // A second sender that also believed it owned the reply: a new file under the same name, later,
    // once the watch has noted the first.
    const twice = emails.get('written-twice')!;
    await waitFor(() => watch.seen().includes(replyKey(twice.mailboxKey)), { timeoutMs: 5_000, what: 'the watch to see the first write' });
    const again = path.join(root, 'maildir', MAILBOX, 'tmp', 'second-write');
    writeFileSync(again, 'a second copy of the reply');
    renameSync(again, path.join(root, 'maildir', MAILBOX, 'outbox', replyFileName(replyMessageId(twice.mailboxKey, MAILBOX))));
    // A reply to an email that is not part of the run at all.
    await mailbox.send({ email: await build('stranger'), message_id: replyMessageId('stranger@elsewhere.example', MAILBOX), subject: 'Re: ?', body: '?' });
    emails.delete('stranger');
    await waitFor(() => watch.seen().includes(replyKey('stranger@elsewhere.example')), { timeoutMs: 5_000, what: 'the watch to see the stray reply' });

    const deadLetter = {
      emailId: emails.get('dead-lettered')!.emailId,
      errorType: 'llm_unavailable',
      reason: 'every language model failed',
    } as DeadLetterEntry;
    const report = await accountFor([...emails.values()], {
      database,
      maildirRoot: path.join(root, 'maildir'),
      watch,
      deadLetters: [deadLetter],
      settlement: { quiet: true, detail: 'made by hand' },
    });
    const endOf = (name: string) => report.accounts.find((account) => account.email === emails.get(name))!;
    const names = (accounts: typeof report.lost) => accounts.map((account) => account.email.sample).sort();

    assert.equal(endOf('fine').end, 'sent');
    assert.equal(endOf('twin-drafted').end, 'drafted');
    assert.deepEqual(endOf('fine').problems, []);
    assert.deepEqual(names(report.lost), ['lost']);
    assert.deepEqual(names(report.duplicated), ['logged-twice', 'written-twice']);
    assert.equal(endOf('written-twice').writes, 2);
    assert.equal(endOf('logged-twice').replyEvents, 2);
    assert.deepEqual(names(report.unlogged), ['unlogged']);
    assert.deepEqual(names(report.wrong), ['wrongly-answered', 'wrongly-ignored']);
    assert.equal(endOf('dead-lettered').end, 'dead_lettered');
    assert.deepEqual(endOf('dead-lettered').reasons, ['llm_unavailable: every language model failed']);
    assert.equal(report.strays.length, 1);
    assert.match(report.strays[0]!, /answers no email of the run/);
    assert.deepEqual(report.inconsistentSamples, ['twin: sent / drafted']);

    // Each check on its own: a report with every kind of damage blanked passes, and putting back
    // any one kind (or a run that never went quiet) fails it, with that kind's message.
    const clean: FaultReport = {
      ...report,
      lost: [],
      duplicated: [],
      strays: [],
      wrong: [],
      inconsistentSamples: [],
      unlogged: [],
      accounts: report.accounts.filter((account) => account.end !== 'dead_lettered'),
    };
    assert.doesNotThrow(() => assertAccounted(clean));
    assert.throws(() => assertAccounted({ ...clean, settlement: { quiet: false, detail: 'still moving' } }), /never went quiet.*still moving/);
    assert.throws(() => assertAccounted({ ...clean, lost: report.lost }), /emails lost/);
    assert.throws(() => assertAccounted({ ...clean, duplicated: report.duplicated }), /answered more than once/);
    assert.throws(() => assertAccounted({ ...clean, strays: report.strays }), /every reply written belongs to an email of the run/);
    assert.throws(() => assertAccounted({ ...clean, wrong: report.wrong }), /ended the wrong way/);
    assert.throws(() => assertAccounted({ ...clean, inconsistentSamples: report.inconsistentSamples }), /copies of one sample end alike/);
    assert.throws(() => assertAccounted({ ...clean, accounts: report.accounts }), /dead letters this fault must not cause/);
    assert.doesNotThrow(() =>
      assertAccounted(
        { ...clean, accounts: report.accounts },
        { mayDeadLetter: (account) => account.reasons.every((reason) => reason.startsWith('llm_unavailable:')) },
      ),
    );
    assert.throws(() => assertAccounted({ ...clean, unlogged: report.unlogged }), /activity log does not show/);
  } finally {
    watch.close();
    await database.close();
    rmSync(root, { recursive: true, force: true });
  }
});
