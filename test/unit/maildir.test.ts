import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PostalMime from 'postal-mime';
import { createMaildirMailbox, deliverToMaildir, replyFileName } from '../../src/providers/mailbox/maildir.js';
import { replyMessageId, replySubject } from '../../src/providers/mailbox/mime.js';
import type { OutgoingReply } from '../../src/providers/mailbox/spec.js';
import { mailboxKeyOf, type Email } from '../../src/pipeline/messages.js';
import { makeEmail } from '../helpers/email-fixtures.js';

const acme = 'support@acme.example';
const globex = 'support@globex.example';

/** A fresh Maildir root for one test, removed when the test ends. */
function temporaryRoot(context: { after: (callback: () => void) => void }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  context.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

function replyTo(email: Email, body = 'Hold the RESET button for 10 seconds.'): OutgoingReply {
  return { email, message_id: replyMessageId(mailboxKeyOf(email), email.agent_email), subject: replySubject(email.subject), body };
}

test('addresses lists the mailbox folders and gives each a tmp/new/cur', async (context) => {
  const root = temporaryRoot(context);
  fs.mkdirSync(path.join(root, acme));
  fs.mkdirSync(path.join(root, globex, 'new'), { recursive: true });
  fs.mkdirSync(path.join(root, 'not-a-mailbox'));
  fs.writeFileSync(path.join(root, 'stray@file.example'), '');
  const mailbox = createMaildirMailbox({ root });
  assert.equal(mailbox.provider, 'maildir');
  assert.deepEqual(await mailbox.addresses(), [acme, globex]);
  for (const sub of ['tmp', 'new', 'cur']) assert.ok(fs.statSync(path.join(root, acme, sub)).isDirectory());
});

test('a missing root has no addresses and no new mail', async (context) => {
  const root = path.join(temporaryRoot(context), 'absent');
  const mailbox = createMaildirMailbox({ root });
  assert.deepEqual(await mailbox.addresses(), []);
  assert.deepEqual(await mailbox.fetchNew(10), []);
});

test('deliver, fetch oldest first across mailboxes, mark taken, and it is not fetched again', async (context) => {
  const root = temporaryRoot(context);
  const mailbox = createMaildirMailbox({ root });
  const first = await deliverToMaildir(root, acme, makeEmail({ subject: 'first', messageId: '<m1@example.com>' }));
  const second = await deliverToMaildir(root, globex, makeEmail({ subject: 'second', messageId: '<m2@example.com>' }));
  const third = await deliverToMaildir(root, acme, makeEmail({ subject: 'third', messageId: '<m3@example.com>' }));
  // Spread the delivery times so the order does not depend on file names alone.
  const base = Date.now() / 1000 - 60;
  fs.utimesSync(path.join(root, acme, 'new', first), base, base);
  fs.utimesSync(path.join(root, globex, 'new', second), base + 1, base + 1);
  fs.utimesSync(path.join(root, acme, 'new', third), base + 2, base + 2);
  assert.ok(fs.readdirSync(path.join(root, acme, 'tmp')).length === 0, 'nothing left in tmp/');

  const fetched = await mailbox.fetchNew(10);
  assert.deepEqual(
    fetched.map((incoming) => incoming.email.subject),
    ['first', 'second', 'third'],
  );
  assert.deepEqual(
    fetched.map((incoming) => incoming.email.mailbox_ref),
    [first, second, third],
  );
  assert.deepEqual(
    fetched.map((incoming) => incoming.email.agent_email),
    [acme, globex, acme],
  );
  assert.deepEqual(
    (await mailbox.fetchNew(2)).map((incoming) => incoming.email.subject),
    ['first', 'second'],
  );
  assert.equal((await mailbox.fetchNew(10)).length, 3, 'fetchNew does not take mail by itself');

  await mailbox.markTaken(fetched[0].email);
  await mailbox.markTaken(fetched[0].email); // redelivered: marking again is harmless
  assert.ok(fs.existsSync(path.join(root, acme, 'cur', `${first}:2,S`)));
  assert.ok(!fs.existsSync(path.join(root, acme, 'new', first)));
  assert.deepEqual(
    (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
    ['second', 'third'],
  );
});

test('send and saveDraft write the reply where findReply finds it, once', async (context) => {
  const root = temporaryRoot(context);
  const mailbox = createMaildirMailbox({ root });
  await deliverToMaildir(root, acme, makeEmail({ subject: 'Reset?', messageId: '<ask-1@example.com>' }));
  await deliverToMaildir(root, acme, makeEmail({ subject: 'Zigbee?', messageId: '<ask-2@example.com>' }));
  const [reset, zigbee] = (await mailbox.fetchNew(10)).map((incoming) => incoming.email);
  const sent = replyTo(reset);
  const drafted = replyTo(zigbee, 'A colleague will answer.');

  assert.equal(await mailbox.findReply(acme, sent.message_id), null);
  const { id } = await mailbox.send(sent);
  await mailbox.saveDraft(drafted);
  assert.equal(await mailbox.findReply(acme, sent.message_id), 'sent');
  assert.equal(await mailbox.findReply(acme, drafted.message_id), 'draft');
  assert.equal(await mailbox.findReply(globex, sent.message_id), null, 'another mailbox never sees it');

  const outboxFile = path.join(root, acme, 'outbox', id);
  assert.equal(id, replyFileName(sent.message_id));
  const written = await PostalMime.parse(fs.readFileSync(outboxFile));
  assert.equal(written.messageId, sent.message_id);
  assert.equal(written.inReplyTo, '<ask-1@example.com>');
  assert.deepEqual(
    written.to?.map((address) => address.address),
    ['customer@example.com'],
  );

  const before = fs.statSync(outboxFile).mtimeMs;
  await mailbox.send({ ...sent, body: 'a second, different body' });
  assert.equal(fs.statSync(outboxFile).mtimeMs, before, 'a repeated send does not rewrite the reply');
  assert.equal(fs.readdirSync(path.join(root, acme, 'outbox')).length, 1);
  const draft = await PostalMime.parse(fs.readFileSync(path.join(root, acme, 'drafts', replyFileName(drafted.message_id))));
  assert.equal(draft.headers.find((header) => header.key === 'x-ragmail-status')?.value, 'draft');
});

test('an unparseable file is moved to rejected/ with its reason and the poll goes on', async (context) => {
  const root = temporaryRoot(context);
  const mailbox = createMaildirMailbox({ root });
  const bad = await deliverToMaildir(root, acme, 'this is not an email, there is no sender here');
  const good = await deliverToMaildir(root, acme, makeEmail({ subject: 'still answered' }));
  const base = Date.now() / 1000 - 60;
  fs.utimesSync(path.join(root, acme, 'new', bad), base, base);
  fs.utimesSync(path.join(root, acme, 'new', good), base + 1, base + 1);

  const fetched = await mailbox.fetchNew(1);
  assert.deepEqual(
    fetched.map((incoming) => incoming.email.mailbox_ref),
    [good],
  );
  assert.ok(fs.existsSync(path.join(root, acme, 'rejected', bad)));
  assert.match(fs.readFileSync(path.join(root, acme, 'rejected', `${bad}.reason.txt`), 'utf8'), /email_unparseable/);
  assert.deepEqual(fs.readdirSync(path.join(root, acme, 'new')), [good]);
});

test('mailbox refs that would leave their folder are refused', async (context) => {
  const root = temporaryRoot(context);
  const mailbox = createMaildirMailbox({ root });
  await deliverToMaildir(root, acme, makeEmail({}));
  const [incoming] = await mailbox.fetchNew(1);
  await assert.rejects(mailbox.markTaken({ ...incoming.email, mailbox_ref: '../../escape' }), /not a plain file name/);
});
