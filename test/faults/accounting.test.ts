/**
 * The books of the fault suite must be able to fail: given a run's evidence made by hand (reply
 * files written through the Maildir mailbox, events in the activity log, dead letters), they call
 * each kind of damage by its name — a lost email, a reply written twice or logged twice, a reply
 * the log missed, a reply where none was due, a reply to no email of the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { DeadLetterEntry } from '../../src/messaging/dead-letters.js';
import { createMaildirMailbox, replyFileName } from '../../src/providers/mailbox/maildir.js';
import { parseEmail, replyMessageId } from '../../src/providers/mailbox/mime.js';
import { openDatabase } from '../../src/store/database.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { accountFor, assertAccounted } from '../helpers/fault-accounting.js';
import type { CorpusEmail } from '../helpers/fault-corpus.js';
import { ReplyWatch } from '../helpers/reply-watch.js';

const MAILBOX = 'support@acme.example';

test('the fault books name every kind of damage: lost, sent twice (two writes, two sent events), missing from the log, wrong end, stray reply', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ragmail-books-'));
  const database = openDatabase(path.join(root, 'ragmail.db'));
  const watch = new ReplyWatch(path.join(root, 'maildir'), [MAILBOX]);
  try {
    const activity = new ActivityLog(database);
    const mailbox = createMaildirMailbox({ root: path.join(root, 'maildir') });
    const emails = new Map<string, CorpusEmail>();
    const build = async (name: string, expectsReply = true) => {
      const raw = Buffer.from(makeEmail({ messageId: `<${name}.${randomUUID()}@customers.example>` }));
      const { email } = await parseEmail(raw, { agentEmail: MAILBOX, mailboxRef: name });
      emails.set(name, { sample: name, mailbox: MAILBOX, raw, emailId: email.email_id, expectsReply });
      return email;
    };
    const log = (name: string, stage: string) => activity.record({
      event_id: randomUUID(), timestamp: new Date().toISOString(), stage, email_id: emails.get(name)!.emailId, document_id: null,
      agent_email: MAILBOX, role: 'test', duration_ms: null, provider: null, model: null, detail: {},
    });
    const send = async (name: string) => {
      const email = [...emails.values()].find((entry) => entry.sample === name)!;
      const { email: parsed } = await parseEmail(email.raw, { agentEmail: MAILBOX, mailboxRef: name });
      await mailbox.send({ email: parsed, message_id: replyMessageId(parsed.email_id, MAILBOX), subject: 'Re: A question', body: 'Hold the reset button.' });
    };

    for (const name of ['fine', 'lost', 'unlogged', 'written-twice', 'logged-twice', 'wrongly-ignored', 'dead-lettered']) await build(name);
    await build('wrongly-answered', false);
    for (const name of ['fine', 'written-twice', 'logged-twice', 'wrongly-answered']) {
      await send(name);
      log(name, 'sent');
    }
    await send('unlogged');
    log('unlogged', 'replied');
    log('lost', 'replied');
    log('logged-twice', 'sent');
    log('wrongly-ignored', 'ignored');
    // A second sender that also believed it owned the reply: a new file under the same name, later.
    await delay(100);
    const twice = emails.get('written-twice')!;
    const again = path.join(root, 'maildir', MAILBOX, 'tmp', 'second-write');
    writeFileSync(again, 'a second copy of the reply');
    renameSync(again, path.join(root, 'maildir', MAILBOX, 'outbox', replyFileName(replyMessageId(twice.emailId, MAILBOX))));
    // A reply to an email that is not part of the run at all.
    await mailbox.send({ email: await build('stranger'), message_id: replyMessageId('stranger@elsewhere.example', MAILBOX), subject: 'Re: ?', body: '?' });
    emails.delete('stranger');
    await delay(100);

    const deadLetter = { emailId: emails.get('dead-lettered')!.emailId, errorType: 'llm_unavailable', reason: 'every language model failed' } as DeadLetterEntry;
    const report = accountFor([...emails.values()], { database, maildirRoot: path.join(root, 'maildir'), watch, deadLetters: [deadLetter] });
    const endOf = (name: string) => report.accounts.find((account) => account.email.sample === name)!;
    const names = (accounts: typeof report.lost) => accounts.map((account) => account.email.sample).sort();

    assert.equal(endOf('fine').end, 'sent');
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
    assert.throws(() => assertAccounted(report), /emails lost/);
    assert.throws(() => assertAccounted({ ...report, lost: [] }), /answered more than once/);
  } finally {
    watch.close();
    database.close();
    rmSync(root, { recursive: true, force: true });
  }
});
