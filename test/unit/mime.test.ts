import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PostalMime from 'postal-mime';
import { RagmailError } from '../../src/lib/errors.js';
import { emailIdOf, emailSchema, mailboxKeyOf } from '../../src/pipeline/messages.js';
import { buildReply, htmlToText, MAX_BODY_CHARS, parseEmail, replyMessageId, replySubject } from '../../src/providers/mailbox/mime.js';
import { createMaildirMailbox, deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import type { IncomingEmail } from '../../src/providers/mailbox/spec.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { withinTime } from '../helpers/time-limit.js';

const samples = path.resolve(import.meta.dirname, '../../samples/emails');
const acme = 'support@acme.example';

function parseSample(agentEmail: string, fileName: string): Promise<IncomingEmail> {
  const raw = fs.readFileSync(path.join(samples, agentEmail, fileName));
  return parseEmail(raw, { agentEmail, mailboxRef: fileName });
}

function headerOf(parsed: Awaited<ReturnType<typeof PostalMime.parse>>, name: string): string | undefined {
  return parsed.headers.find((header) => header.key === name)?.value;
}

test('every sample email parses into a valid email addressed to its mailbox', async () => {
  for (const agentEmail of fs.readdirSync(samples)) {
    for (const fileName of fs.readdirSync(path.join(samples, agentEmail))) {
      const { email } = await parseSample(agentEmail, fileName);
      assert.ok(email.to.includes(agentEmail), `${fileName} is addressed to ${agentEmail}`);
      assert.ok(email.body.trim().length > 20, `${fileName} has a body`);
      assert.ok(email.message_id_header?.startsWith('<'), `${fileName} has a Message-ID`);
      assert.equal(email.agent_email, agentEmail);
      assert.equal(email.mailbox_ref, fileName);
    }
  }
});

test('a plain question: ids without brackets, lower-case sender, decoded text, Date in ISO', async () => {
  const { email, automated } = await parseSample(acme, '01-router-reset.eml');
  assert.equal(email.email_id, emailIdOf(acme, 'CAF3x9Lq7-reset.8812@mailbox.example'));
  assert.match(email.email_id, /^[a-p]{32}$/, 'the email id is URL-safe');
  assert.equal(email.message_id_header, '<CAF3x9Lq7-reset.8812@mailbox.example>');
  assert.equal(email.thread_id, 'CAF3x9Lq7-reset.8812@mailbox.example', 'the thread is the Message-ID, as the mailbox knows it');
  assert.equal(email.from, 'jose.garcia@mailbox.example');
  assert.equal(email.from_name, 'José García', 'the display name, kept for a greeting');
  assert.deepEqual(email.to, [acme]);
  assert.equal(email.reply_recipient, 'jose.garcia@mailbox.example', 'no Reply-To: the reply goes to the sender');
  assert.equal(email.recipient_problem, null);
  assert.equal(email.subject, 'How do I reset my router admin password?');
  assert.match(email.body, /no longer remember the admin password/);
  assert.match(email.body, /José/);
  assert.equal(email.received_at, '2026-11-16T08:12:44.000Z');
  assert.equal(email.priority, 5);
  assert.equal(automated, null);
});

test('a follow-up takes the root of References as its thread id', async () => {
  const { email } = await parseSample(acme, '02-firmware-update.eml');
  assert.equal(email.thread_id, '20261112081500.77c1@fastnet.example');
  assert.deepEqual(email.references, ['<20261112081500.77c1@fastnet.example>', '<ragmail.0f6b2c1d9e8a7b6c5d4e3f2a1b0c9d8e@acme.example>']);
});

test('In-Reply-To is the thread id when there are no References', async () => {
  const raw = makeEmail({ headers: { 'In-Reply-To': '<parent.1@example.com>' } });
  const { email } = await parseEmail(raw, { agentEmail: acme, mailboxRef: 'x' });
  assert.equal(email.thread_id, 'parent.1@example.com');
});

test('urgent sample gets the highest priority; automated samples are flagged, spam is left to the classifier', async () => {
  assert.equal((await parseSample(acme, '03-urgent-internet-down.eml')).email.priority, 10);
  assert.match((await parseSample(acme, '07-newsletter.eml')).automated ?? '', /precedence|list/i);
  assert.match((await parseSample(acme, '08-out-of-office.eml')).automated ?? '', /auto-replied/);
  assert.equal((await parseSample(acme, '09-spam-prize.eml')).automated, null);
});

test('a From without a display name has no from_name; a long one is cut, its whitespace folded', async () => {
  const bare = await parseEmail(makeRaw('From: ana@example.org'), { agentEmail: acme, mailboxRef: 'bare' });
  assert.equal(bare.email.from_name, null);
  const long = await parseEmail(makeRaw(`From: "${'Ana  '.repeat(100)}" <ana@example.org>`), { agentEmail: acme, mailboxRef: 'long' });
  const name = long.email.from_name ?? '';
  assert.ok(name.length > 0 && name.length <= 200 && !name.includes('  '));
});

function makeRaw(fromLine: string): string {
  return `${fromLine}\r\nTo: ${acme}\r\nSubject: Hi\r\nMessage-ID: <n@example.org>\r\n\r\nHello\r\n`;
}

test("Reply-To is read apart from From, and is the reply's one recipient", async () => {
  const { email } = await parseSample(acme, '10-warranty-rma-reply-to.eml');
  assert.equal(email.from, 'dana.whitfield@globalcorp-mail.example');
  assert.equal(email.reply_recipient, 'dana@whitfield-home.example');
  assert.equal(email.recipient_problem, null);
});

test('an HTML-only email gets a plain-text body without markup', async () => {
  const { email } = await parseSample(acme, '11-cancel-subscription-html.eml');
  assert.match(email.body, /cancel my Acme Care subscription/);
  assert.match(email.body, /Thanks & best wishes,\nOlivia/);
  assert.doesNotMatch(email.body, /<|font-family/);
});

test('htmlToText keeps paragraphs and list items on their own lines', () => {
  assert.equal(htmlToText('<ul><li>one</li><li>two &lt;3</li></ul><p>x&#233;&#x21;</p>'), '- one\n- two <3\n\nxé!');
});

test('without a Message-ID the email id is a stable hash of mailbox and ref', async () => {
  const raw = makeEmail({ messageId: '' });
  const first = await parseEmail(raw, { agentEmail: acme, mailboxRef: 'ref-1' });
  const again = await parseEmail(raw, { agentEmail: acme, mailboxRef: 'ref-1' });
  const other = await parseEmail(raw, { agentEmail: acme, mailboxRef: 'ref-2' });
  assert.match(first.email.email_id, /^[a-p]{32}$/);
  assert.match(mailboxKeyOf(first.email), /^[0-9a-f]{64}$/);
  assert.equal(first.email.email_id, again.email.email_id);
  assert.notEqual(first.email.email_id, other.email.email_id);
  assert.equal(first.email.message_id_header, null);
});

test('mail from the mailbox itself is treated as automated (no loops)', async () => {
  const { automated } = await parseEmail(makeEmail({ from: 'Support <SUPPORT@acme.example>' }), {
    agentEmail: acme,
    mailboxRef: 'x',
  });
  assert.match(automated ?? '', /mailbox itself/);
});

test('input that is not an email fails with a permanent email_unparseable error', async () => {
  for (const raw of ['', 'garbage\u0000\u0001 not an email at all', Buffer.from([0xff, 0xfe, 0x00, 0x42])]) {
    await assert.rejects(parseEmail(raw, { agentEmail: acme, mailboxRef: 'bad' }), (error: unknown) => {
      assert.ok(error instanceof RagmailError);
      assert.equal(error.code, 'email_unparseable');
      assert.equal(error.retryable, false);
      return true;
    });
  }
});

test('a message postal-mime refuses (MIME nested too deep) fails with email_unparseable', async () => {
  let raw = 'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n';
  for (let depth = 1; depth < 300; depth += 1) {
    raw += `--b${depth - 1}\r\nContent-Type: multipart/mixed; boundary="b${depth}"\r\n\r\n`;
  }
  await assert.rejects(parseEmail(raw, { agentEmail: acme, mailboxRef: 'deep' }), (error: unknown) => {
    assert.ok(error instanceof RagmailError);
    assert.equal(error.code, 'email_unparseable');
    assert.match(error.message, /nesting depth/);
    return true;
  });
});

test('replyMessageId is deterministic and differs per mailbox and per email', () => {
  const id = replyMessageId('abc@example.com', acme);
  assert.match(id, /^<ragmail\.[0-9a-f]{32}@acme\.example>$/);
  assert.equal(replyMessageId('abc@example.com', acme), id);
  assert.notEqual(replyMessageId('abc@example.com', 'support@globex.example'), id);
  assert.notEqual(replyMessageId('abd@example.com', acme), id);
});

test('one email sent to two support addresses is two emails, each with its own id and reply id', async () => {
  const raw = makeEmail({ to: `${acme}, sales@acme.example`, messageId: '<both-1@example.net>' });
  const { email: support } = await parseEmail(raw, { agentEmail: acme, mailboxRef: 'same-ref' });
  const { email: sales } = await parseEmail(raw, { agentEmail: 'sales@acme.example', mailboxRef: 'same-ref' });
  assert.notEqual(support.email_id, sales.email_id);
  assert.equal(mailboxKeyOf(support), mailboxKeyOf(sales), 'the same email, as both mailboxes know it');
  assert.equal(support.thread_id, sales.thread_id);
  assert.notEqual(replyMessageId(mailboxKeyOf(support), acme), replyMessageId(mailboxKeyOf(sales), 'sales@acme.example'));
});

test('the reply id is what releases before per-mailbox email ids gave, so replies already sent are recognised', async () => {
  const { email } = await parseEmail(makeEmail({ messageId: '<kept-1@example.net>' }), { agentEmail: acme, mailboxRef: 'r' });
  // Then: replyMessageId(email_id, agent) with email_id the bare Message-ID; its value, computed once.
  assert.equal(replyMessageId(mailboxKeyOf(email), acme), '<ragmail.0f122e83194ec9d5edc4729c610ba6b0@acme.example>');
});

test('a message an older release published (email_id the bare Message-ID or mailbox hash) is given its per-mailbox id', async () => {
  const { email } = await parseEmail(makeEmail({ messageId: '<old-1@example.net>' }), { agentEmail: acme, mailboxRef: 'r' });
  const asOlderReleasesWroteIt = { ...email, email_id: 'old-1@example.net' };
  assert.equal(emailSchema.parse(asOlderReleasesWroteIt).email_id, email.email_id);
  const { email: anonymous } = await parseEmail(makeEmail({ messageId: '' }), { agentEmail: acme, mailboxRef: 'r2' });
  assert.equal(emailSchema.parse({ ...anonymous, email_id: mailboxKeyOf(anonymous) }).email_id, anonymous.email_id);
  assert.equal(emailSchema.parse({ ...email, email_id: 'chosen-by-a-test' }).email_id, 'chosen-by-a-test', 'any other id is kept');
});

test('replySubject adds Re: once', () => {
  assert.equal(replySubject('Router help'), 'Re: Router help');
  assert.equal(replySubject('Re: Router help'), 'Re: Router help');
  assert.equal(replySubject('RE: Router help'), 'RE: Router help');
  assert.equal(replySubject('re:Router help'), 're:Router help');
  assert.equal(replySubject('Regarding my router'), 'Re: Regarding my router');
});

test('a built reply goes to Reply-To, threads with the original and is marked auto-replied', async () => {
  const { email } = await parseSample(acme, '10-warranty-rma-reply-to.eml');
  const messageId = replyMessageId(mailboxKeyOf(email), acme);
  const raw = await buildReply({
    email,
    message_id: messageId,
    subject: replySubject(email.subject),
    body: 'Your X200 has a 2-year warranty. Open an RMA in the support portal with serial number X200-4471-0931.',
  });
  const reply = await PostalMime.parse(raw);
  assert.deepEqual(
    reply.to?.map((address) => address.address),
    ['dana@whitfield-home.example'],
  );
  assert.equal(reply.from?.address, acme);
  assert.equal(reply.subject, 'Re: Warranty claim for a faulty X200 router');
  assert.equal(reply.messageId, messageId);
  assert.equal(reply.inReplyTo, email.message_id_header);
  assert.equal(reply.references, email.message_id_header);
  assert.equal(headerOf(reply, 'auto-submitted'), 'auto-replied');
  assert.equal(headerOf(reply, 'x-ragmail-status'), undefined);
  assert.ok(reply.date && !Number.isNaN(Date.parse(reply.date)));
  assert.match(reply.text ?? '', /RMA in the support portal/);
  assert.equal(reply.cc, undefined);
});

test('a reply without Reply-To goes to the sender and extends References; drafts are marked', async () => {
  const { email } = await parseSample(acme, '02-firmware-update.eml');
  const raw = await buildReply(
    { email, message_id: replyMessageId(mailboxKeyOf(email), acme), subject: replySubject(email.subject), body: 'Ünïcode ok.' },
    { draft: true },
  );
  const reply = await PostalMime.parse(raw);
  assert.deepEqual(
    reply.to?.map((address) => address.address),
    ['priya.raman@fastnet.example'],
  );
  assert.equal(reply.subject, 'Re: Firmware update question');
  assert.equal(reply.references, [...email.references, email.message_id_header].join(' '));
  assert.equal(headerOf(reply, 'x-ragmail-status'), 'draft');
  assert.equal(reply.text?.trim(), 'Ünïcode ok.');
});

test('htmlToText is linear: 200-400 KB of crafted markup each convert in well under 2 s', async () => {
  const crafted = [
    '<'.repeat(200_000),
    '<a '.repeat(130_000),
    '<!--'.repeat(100_000),
    '<br'.repeat(130_000),
    `<p>${'&#'.repeat(150_000)}`,
    '<style>'.repeat(50_000),
  ];
  for (const html of crafted) {
    await withinTime(2_000, `htmlToText of ${JSON.stringify(html.slice(0, 8))}… (${html.length} chars)`, () => htmlToText(html));
  }
  assert.equal(
    htmlToText('<html><head><title>T</title><style>p{}</style></head><body><p>Hi&nbsp; there</p><!-- c --><script>x<y</script>Bye<br>now</body></html>'),
    'Hi there\n\nBye\nnow',
  );
});

test('an HTML email of 400 KB of "<" and a Message-ID of 200 KB of ">" parse in well under 2 s, the body cut with a note', async () => {
  const html = `From: a@example.com\r\nTo: ${acme}\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>${'<'.repeat(400_000)}\r\n`;
  const { email } = await withinTime(2_000, 'parsing 400 KB of "<"', () => parseEmail(html, { agentEmail: acme, mailboxRef: 'lt' }));
  assert.ok(email.body.length <= MAX_BODY_CHARS + 200, `the body is bounded (${email.body.length} chars)`);
  assert.match(email.body, /^Hello\n/);
  assert.match(email.body, /the rest of this email was cut/);

  const messageId = `From: a@example.com\r\nTo: ${acme}\r\nMessage-ID: <a${'>'.repeat(200_000)}x\r\nReferences: <b${'>'.repeat(200_000)}x\r\n\r\nHello\r\n`;
  const long = await withinTime(2_000, 'parsing a Message-ID of 200 KB of ">"', () => parseEmail(messageId, { agentEmail: acme, mailboxRef: 'gt' }));
  // Too long to be an id: the email is known by its place instead, and still answered.
  assert.match(mailboxKeyOf(long.email), /^[0-9a-f]{64}$/);
  assert.equal(long.email.message_id_header, null);
  const closing = `From: a@example.com\r\nTo: ${acme}\r\nMessage-ID: <abc@example.com${'>'.repeat(900)}\r\n\r\nHello\r\n`;
  const trimmed = await withinTime(2_000, 'a Message-ID ending in many ">"', () => parseEmail(closing, { agentEmail: acme, mailboxRef: 'gt2' }));
  assert.equal(mailboxKeyOf(trimmed.email), 'abc@example.com');
});

test('a long plain-text body is cut at MAX_BODY_CHARS with a note', async () => {
  const { email } = await parseEmail(makeEmail({ body: `${'7'.repeat(250_000)}\n` }), { agentEmail: acme, mailboxRef: 'digits' });
  assert.ok(email.body.length < MAX_BODY_CHARS + 200);
  assert.match(email.body, /the rest of this email was cut: longer than 128 KB/);
});

test('the Maildir poller sets a crafted email aside or reads it quickly, and still reads the mail behind it', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-mime-'));
  try {
    const mailbox = createMaildirMailbox({ root });
    await deliverToMaildir(root, acme, `From: a@example.com\r\nTo: ${acme}\r\nContent-Type: text/html\r\n\r\n${'<'.repeat(400_000)}\r\n`);
    await deliverToMaildir(root, acme, `From: a@example.com\r\nTo: ${acme}\r\nMessage-ID: <a${'>'.repeat(200_000)}x\r\n\r\nHello\r\n`);
    await deliverToMaildir(root, acme, makeEmail({ subject: 'After the bombs' }));
    const read = await withinTime(4_000, 'one poll of three crafted emails', () => mailbox.fetchNew(10));
    assert.ok(
      read.some((incoming) => incoming.email.subject === 'After the bombs'),
      'the plain email behind them is read',
    );
    assert.equal(read.length, 3, 'each crafted email is read as an email, none stalls the poll');
    // Mail the poller cannot read ends set aside (rejected/), not re-read on every poll.
    await deliverToMaildir(root, acme, 'garbage\u0000 not an email');
    const again = await withinTime(4_000, 'a poll with an unparseable email', () => mailbox.fetchNew(10));
    assert.equal(again.length, 3, 'the unparseable email is not returned');
    assert.equal(fs.readdirSync(path.join(root, acme, 'rejected')).filter((name) => !name.endsWith('.reason.txt')).length, 1);
    assert.equal((await mailbox.fetchNew(10)).length, 3, 'and not read again on the next poll');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
