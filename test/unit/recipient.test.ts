/**
 * One email must never mail strangers: the reply's recipient is resolved once, when the email is
 * read, as exactly one valid address, and every address of From and Reply-To is checked for robots
 * and for the mailbox itself. postal-mime reads `<a@x,b@y>` as ONE address, so these are the cases
 * that slipped through before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import { RagmailError } from '../../src/lib/errors.js';
import { emailSchema, mailboxKeyOf, UNCHECKED_RECIPIENT } from '../../src/pipeline/messages.js';
import { buildReply, parseEmail, replyMessageId } from '../../src/providers/mailbox/mime.js';
import { isOwnAddress, isSingleAddress } from '../../src/providers/mailbox/recipient.js';
import { makeEmail } from '../helpers/email-fixtures.js';

const acme = 'support@acme.example';
const victims = (count: number) => Array.from({ length: count }, (_, index) => `victim${index}@strangers.example`);
const parse = (raw: string) => parseEmail(raw, { agentEmail: acme, mailboxRef: 'ref' });

test('a Reply-To of 200 addresses in one pair of brackets gives no recipient, with the reason', async () => {
  const { email, automated } = await parse(makeEmail({ headers: { 'Reply-To': `<${victims(200).join(',')}>` } }));
  assert.equal(email.reply_recipient, null);
  assert.equal(email.recipient_problem, 'Reply-To names 200 addresses');
  assert.equal(automated, null, 'not a robot: the email still reaches a person for review');
});

test('a Reply-To list, a group, a garbage or an invalid Reply-To give no recipient and never fall back to From', async () => {
  const cases: Array<[string, RegExp]> = [
    ['a@x.example, b@y.example', /Reply-To names 2 addresses/],
    ['team: a@x.example, b@x.example;', /Reply-To names 2 addresses/],
    ['<a@x.example;b@y.example>', /Reply-To names 2 addresses/],
    ['garbage', /Reply-To holds no usable address/],
    ['<"a b"@x.example>', /not a valid address|names 2/],
    [`<${'a'.repeat(300)}@x.example>`, /not a valid address/],
  ];
  for (const [replyTo, problem] of cases) {
    const { email } = await parse(makeEmail({ from: 'customer@example.com', headers: { 'Reply-To': replyTo } }));
    assert.equal(email.reply_recipient, null, replyTo);
    assert.match(email.recipient_problem ?? '', problem, replyTo);
  }
});

test('From variants: a hidden own address is mail from the mailbox, a hidden no-reply is a robot, a plain list has no recipient', async () => {
  const own = await parse(makeEmail({ from: `<${acme},x@evil.example>` }));
  assert.match(own.automated ?? '', /mailbox itself/);
  const robot = await parse(makeEmail({ from: '<x@evil.example,noreply@victim.example>' }));
  assert.match(robot.automated ?? '', /automated sender noreply@victim\.example/);
  const robotReplyTo = await parse(makeEmail({ headers: { 'Reply-To': '<x@evil.example,no-reply@victim.example>' } }));
  assert.match(robotReplyTo.automated ?? '', /automated sender no-reply@victim\.example/);
  const ownReplyTo = await parse(makeEmail({ headers: { 'Reply-To': acme } }));
  assert.match(ownReplyTo.automated ?? '', /Reply-To names the mailbox itself/);
  const list = await parse(makeEmail({ from: '<a@x.example,b@y.example>' }));
  assert.deepEqual([list.automated, list.email.reply_recipient, list.email.recipient_problem], [null, null, 'From names 2 addresses']);
});

test('a plus-address or another case of the mailbox is the mailbox itself, in From and in Reply-To', async () => {
  for (const own of ['support+x@acme.example', 'Support@ACME.example', 'SUPPORT+loop.1@Acme.Example']) {
    assert.match((await parse(makeEmail({ from: own }))).automated ?? '', /sent by the mailbox itself/, own);
    assert.match((await parse(makeEmail({ headers: { 'Reply-To': own } }))).automated ?? '', /Reply-To names the mailbox itself/, own);
    assert.match((await parse(makeEmail({ from: `<x@evil.example,${own}>` }))).automated ?? '', /mailbox itself/, own);
  }
  // Another mailbox of the same domain, or one that only starts alike, is a customer.
  for (const other of ['support2@acme.example', 'supportx@acme.example', 'support@acme.example.evil.example', 'x+support@acme.example']) {
    assert.equal((await parse(makeEmail({ from: other }))).automated, null, other);
  }
  assert.equal(isOwnAddress('Support+Tag@Acme.Example', 'support@acme.example'), true);
  assert.equal(isOwnAddress('support@acme.example', 'Support+ragmail@acme.example'), true, 'a tagged mailbox address is the same mailbox');
  assert.equal(isOwnAddress('sales@acme.example', 'support@acme.example'), false);
});

test('one address with a display name is the recipient, lower-cased', async () => {
  const { email } = await parse(makeEmail({ from: '"Bob, Jr" <Bob.Smith@Example.COM>' }));
  assert.equal(email.reply_recipient, 'bob.smith@example.com');
});

test('isSingleAddress takes one addr-spec only', () => {
  for (const good of ['a@x.example', 'first.last+tag@sub.x.example']) assert.ok(isSingleAddress(good), good);
  for (const bad of [
    'a@x.example,b@y.example',
    '<a@x.example>',
    'a b@x.example',
    '"a"@x.example',
    'a@x.example\r\nBcc: b@y.example',
    'a@localhost',
    `${'a'.repeat(250)}@x.example`,
    '',
  ]) {
    assert.ok(!isSingleAddress(bad), JSON.stringify(bad));
  }
});

test('the built reply has exactly one To address, as a structured address; no recipient means no send', async () => {
  const { email } = await parse(makeEmail({ from: 'customer@example.com' }));
  const reply = { email, message_id: replyMessageId(mailboxKeyOf(email), acme), subject: 'Re: A question', body: 'Hello.' };
  const sent = await PostalMime.parse(await buildReply(reply));
  assert.deepEqual(
    sent.to?.map((address) => address.address),
    ['customer@example.com'],
  );
  assert.match(sent.headers.find((header) => header.key === 'to')?.value ?? '', /^<?customer@example\.com>?$/);

  const { email: listed } = await parse(makeEmail({ headers: { 'Reply-To': `<${victims(200).join(',')}>` } }));
  const refused = { ...reply, email: listed };
  await assert.rejects(buildReply(refused), (error: unknown) => error instanceof RagmailError && error.code === 'reply_recipient_invalid' && !error.retryable);
  // A draft for a person has no To at all, and says why.
  const draft = await PostalMime.parse(await buildReply(refused, { draft: true }));
  assert.equal(draft.to, undefined);
  assert.equal(draft.headers.find((header) => header.key === 'x-ragmail-recipient-problem')?.value, 'Reply-To names 200 addresses');

  // A recipient smuggled past the schema into the reply is refused too.
  const smuggled = { ...reply, email: { ...email, reply_recipient: 'a@x.example,b@y.example' } };
  await assert.rejects(buildReply(smuggled), /no single valid recipient/);
});

test('a message without the recipient fields (from an older version) validates with no recipient', () => {
  const older = { email_id: 'e1', agent_email: acme, mailbox_ref: 'r', from: 'a@x.example', body: 'x', received_at: new Date().toISOString() };
  const email = emailSchema.parse(older);
  assert.deepEqual([email.reply_recipient, email.recipient_problem], [null, UNCHECKED_RECIPIENT]);
  assert.ok(!emailSchema.safeParse({ ...older, reply_recipient: 'a@x.example,b@y.example' }).success, 'a list is not a recipient');
  const checked = emailSchema.parse({ ...older, reply_recipient: 'a@x.example', recipient_problem: null });
  assert.deepEqual([checked.reply_recipient, checked.recipient_problem], ['a@x.example', null]);
});
