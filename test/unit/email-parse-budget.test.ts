/**
 * Issue 18, finding 2: one email must not stall a worker. postal-mime spends ~25 µs per line, so an
 * email of many short lines took tens of seconds on the main thread, past the broker's heartbeat.
 * The parse now runs in a worker thread with a time budget; these emails are refused within it
 * while this process's event loop stays free.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RagmailError } from '../../src/lib/errors.js';
import { parseEmail, type EmailParseLimits } from '../../src/providers/mailbox/mime.js';
import { createMaildirMailbox, deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { startProcessProbe } from '../helpers/process-probe.js';
import { withinTime } from '../helpers/time-limit.js';

const acme = 'support@acme.example';
/** A budget far below what the crafted emails took (24 s and 5 s) and far above a normal email's milliseconds. */
const limits: EmailParseLimits = { maxBytes: 25 * 1024 * 1024, timeoutMs: 1_000 };
/** The budget, plus a fresh worker's start-up after the previous refusal (~0.5 s under tsx) and a loaded CI machine's slack. */
const REFUSED_WITHIN_MS = limits.timeoutMs + 3_000;
/** A stall this long would be a parse on this thread; timers on a busy machine stay well below it. */
const MAX_EVENT_LOOP_GAP_MS = 500;

/** 800,000 empty CRLF lines after the headers: 24 s of postal-mime on the main thread. */
const manyLines = `From: a@example.com\r\nTo: ${acme}\r\nSubject: lines\r\n\r\n${'\r\n'.repeat(800_000)}`;
/** An HTML part of 400 KB of " \n": 5.3 s through parseEmail on the main thread. */
const spacedHtml = `From: a@example.com\r\nTo: ${acme}\r\nSubject: spaces\r\nContent-Type: text/html\r\n\r\n<p>Hi</p>${' \n'.repeat(200_000)}`;
const sample = fs.readFileSync(path.resolve(import.meta.dirname, '../../samples/emails', acme, '01-router-reset.eml'));

/** Runs `work` under the event-loop probe (stopped even when `work` fails) and returns the longest stall seen. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  const probe = startProcessProbe();
  try {
    await work();
    return probe.stop().maxGapMs;
  } finally {
    probe.stop();
  }
}

function isRefusal(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RagmailError, String(error));
    assert.equal(error.code, 'email_unparseable');
    assert.equal(error.retryable, false);
    assert.match(error.message, pattern);
    return true;
  };
}

test('emails of many short lines are refused as email_unparseable within the budget, the event loop never stalls', async () => {
  const before = await parseEmail(sample, { agentEmail: acme, mailboxRef: 'sample', limits });
  for (const [name, raw] of [
    ['800k CRLF lines', manyLines],
    ['400 KB of " \\n" in HTML', spacedHtml],
  ] as const) {
    const maxGapMs = await longestStall(() =>
      withinTime(REFUSED_WITHIN_MS, `refusing ${name}`, () =>
        assert.rejects(parseEmail(raw, { agentEmail: acme, mailboxRef: name, limits }), isRefusal(/parsing took longer than 1000 ms/)),
      ),
    );
    assert.ok(maxGapMs < MAX_EVENT_LOOP_GAP_MS, `the event loop stalled for ${maxGapMs} ms while ${name} was parsed`);
  }
  // The worker that ran out of time was replaced: a normal email parses as it did before.
  const after = await withinTime(REFUSED_WITHIN_MS, 'the next email', () => parseEmail(sample, { agentEmail: acme, mailboxRef: 'sample', limits }));
  assert.deepEqual(after, before);
});

test('emails parsed at once are queued; a slow one among them fails alone', async () => {
  const raws = [makeEmail({ subject: 'one' }), manyLines, makeEmail({ subject: 'two' }), sample, makeEmail({ subject: 'three' })];
  const results = await Promise.allSettled(raws.map((raw, index) => parseEmail(raw, { agentEmail: acme, mailboxRef: `m${index}`, limits })));
  assert.deepEqual(
    results.map((result) => result.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  const subjects = results.map((result) => (result.status === 'fulfilled' ? result.value.email.subject : null));
  assert.deepEqual(subjects, ['one', null, 'two', 'How do I reset my router admin password?', 'three']);
  isRefusal(/parsing took longer than 1000 ms/)((results[1] as PromiseRejectedResult).reason);
});

test('an email larger than maxBytes is refused before it is parsed', async () => {
  const small: EmailParseLimits = { maxBytes: 4_096, timeoutMs: limits.timeoutMs };
  const large = makeEmail({ body: `${'question '.repeat(1_000)}\n` });
  await assert.rejects(parseEmail(large, { agentEmail: acme, mailboxRef: 'large', limits: small }), isRefusal(/of \d+ bytes exceeds the limit of 4096 bytes/));
  await assert.rejects(parseEmail(Buffer.from(large), { agentEmail: acme, mailboxRef: 'large', limits: small }), isRefusal(/exceeds the limit/));
  assert.equal((await parseEmail(makeEmail({ subject: 'small' }), { agentEmail: acme, mailboxRef: 'small', limits: small })).email.subject, 'small');
});

test('the Maildir sets a slow email and an oversized one aside in rejected/ with the reason, and reads the next email', async (context) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-budget-'));
  context.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const mailbox = createMaildirMailbox({ root, parseLimits: { maxBytes: 2 * 1024 * 1024, timeoutMs: limits.timeoutMs } });
  const slow = await deliverToMaildir(root, acme, manyLines);
  const oversized = await deliverToMaildir(root, acme, makeEmail({ body: `${'x'.repeat(3 * 1024 * 1024)}\n` }));
  await deliverToMaildir(root, acme, makeEmail({ subject: 'behind the slow one' }));
  const base = Date.now() / 1000 - 60;
  fs.utimesSync(path.join(root, acme, 'new', slow), base, base);
  fs.utimesSync(path.join(root, acme, 'new', oversized), base + 1, base + 1);

  let read: Awaited<ReturnType<typeof mailbox.fetchNew>> = [];
  const maxGapMs = await longestStall(async () => {
    read = await withinTime(REFUSED_WITHIN_MS + 1_000, 'one poll with a slow email', () => mailbox.fetchNew(10));
  });
  assert.ok(maxGapMs < MAX_EVENT_LOOP_GAP_MS, `the poller's event loop stalled for ${maxGapMs} ms`);
  assert.deepEqual(
    read.map((incoming) => incoming.email.subject),
    ['behind the slow one'],
  );
  const rejected = path.join(root, acme, 'rejected');
  assert.deepEqual(
    fs
      .readdirSync(rejected)
      .filter((name) => !name.endsWith('.reason.txt'))
      .sort(),
    [slow, oversized].sort(),
  );
  assert.match(fs.readFileSync(path.join(rejected, `${slow}.reason.txt`), 'utf8'), /^email_unparseable: .*parsing took longer than 1000 ms/);
  assert.match(fs.readFileSync(path.join(rejected, `${oversized}.reason.txt`), 'utf8'), /exceeds the limit of 2097152/);
  assert.equal((await mailbox.fetchNew(10)).length, 1, 'nothing set aside is read again');
});
