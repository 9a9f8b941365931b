/**
 * Gmail specifics, through googleapis against the loopback fake: paging, rate-limit back-off,
 * permanent failures, threading of sends, the processed label, both ways of authorising, and the
 * provider check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkGmail, createGmailMailbox, type GmailMailboxSettings } from '../../src/providers/mailbox/gmail.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId, replySubject } from '../../src/providers/mailbox/mime.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { gmailErrorBody, startFakeGmail, type FakeGmail } from '../fakes/gmail-server.js';
import { rejection } from '../helpers/assertions.js';

const user = 'support@acme.example';
const messagesPath = `/gmail/v1/users/${encodeURIComponent(user)}/messages`;

type TestContext = { after: (callback: () => Promise<void> | void) => void };

async function setup(context: TestContext, overrides: Partial<GmailMailboxSettings> = {}) {
  const fake = await startFakeGmail({ user, refreshToken: 'refresh-1' });
  context.after(() => fake.close());
  const settings: GmailMailboxSettings = {
    user,
    auth: { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1' },
    processedLabel: 'ragmail/processed',
    rootUrl: `${fake.url}/`,
    tokenUrl: `${fake.url}/token`,
    retryBaseDelayMs: 5,
    ...overrides,
  };
  return { fake, settings, mailbox: createGmailMailbox(settings) };
}

const apiRequests = (fake: FakeGmail, method: string, suffix: string) =>
  fake.requests.filter((request) => request.method === method && request.path === `${messagesPath}${suffix}`);

const rateLimited = (status: 403 | 429, reason: string) => ({
  status,
  path: messagesPath,
  body: gmailErrorBody(status, reason, 'User-rate limit exceeded.', status === 429 ? 'RESOURCE_EXHAUSTED' : 'PERMISSION_DENIED'),
});

test('fetchNew pages beyond the first list page and serves the oldest unread mail first', async (context) => {
  const { fake, mailbox } = await setup(context, { pageSize: 3 });
  for (let index = 1; index <= 7; index += 1) fake.deliver(makeEmail({ to: user, subject: `mail ${index}` }));

  const oldest = await mailbox.fetchNew(2);
  assert.deepEqual(
    oldest.map((incoming) => incoming.email.subject),
    ['mail 1', 'mail 2'],
    'not the newest page',
  );
  const lists = apiRequests(fake, 'GET', '');
  assert.equal(lists.length, 3, '7 ids in pages of 3');
  assert.deepEqual(
    lists.map((request) => request.query.pageToken),
    [undefined, '3', '6'],
  );
  assert.equal(lists[0].query.q, 'is:unread in:inbox -label:ragmail-processed');
  assert.ok(apiRequests(fake, 'GET', `/${oldest[0].email.mailbox_ref}`).every((request) => request.query.format === 'raw'));

  const all = await mailbox.fetchNew(50);
  assert.deepEqual(
    all.map((incoming) => incoming.email.subject),
    [1, 2, 3, 4, 5, 6, 7].map((index) => `mail ${index}`),
  );
  const gmailThread = fake.message(all[0].email.mailbox_ref)?.threadId;
  assert.equal(all[0].email.thread_id, gmailThread, 'thread_id is the Gmail thread');
});

test('429 is backed off and retried until it succeeds, waiting as long as Retry-After says', async (context) => {
  const { fake, mailbox } = await setup(context);
  fake.deliver(makeEmail({ to: user, subject: 'hello' }));
  await mailbox.fetchNew(10); // loads the client and its token, so only the waiting is timed
  fake.enqueue({ ...rateLimited(429, 'rateLimitExceeded'), headers: { 'retry-after': '1' } });
  fake.enqueue(rateLimited(429, 'rateLimitExceeded'));
  const started = performance.now();
  const fetched = await mailbox.fetchNew(10);
  assert.equal(fetched.length, 1);
  assert.equal(apiRequests(fake, 'GET', '').length, 1 + 3, 'two refusals, then the answer');
  assert.ok(performance.now() - started >= 950, 'the Retry-After of 1 s was honoured');
});

test('403 rateLimitExceeded and userRateLimitExceeded are backed off too', async (context) => {
  const { fake, mailbox } = await setup(context);
  fake.deliver(makeEmail({ to: user, subject: 'hello' }));
  fake.enqueue(rateLimited(403, 'userRateLimitExceeded'));
  fake.enqueue(rateLimited(403, 'rateLimitExceeded'));
  assert.equal((await mailbox.fetchNew(10)).length, 1);
  assert.equal(apiRequests(fake, 'GET', '').length, 3);
});

test('a rate limit that lasts becomes a retryable error after a few retries', async (context) => {
  const { fake, mailbox } = await setup(context, { retries: 2 });
  for (let attempt = 0; attempt < 5; attempt += 1) fake.enqueue(rateLimited(429, 'rateLimitExceeded'));
  const error = await rejection(mailbox.fetchNew(10));
  assert.equal(error.retryable, true);
  assert.equal(error.code, 'mailbox_rate_limited');
  assert.equal(apiRequests(fake, 'GET', '').length, 3, 'one try and 2 retries');
});

test('401 and a 403 that is no rate limit are permanent and not retried', async (context) => {
  const { fake, mailbox } = await setup(context);
  fake.enqueue({ status: 401, path: messagesPath, body: gmailErrorBody(401, 'authError', 'Invalid Credentials', 'UNAUTHENTICATED') });
  const unauthorized = await rejection(mailbox.fetchNew(10));
  assert.deepEqual([unauthorized.retryable, unauthorized.code], [false, 'mailbox_auth']);
  assert.equal(apiRequests(fake, 'GET', '').length, 1);

  fake.enqueue({ status: 403, path: messagesPath, body: gmailErrorBody(403, 'insufficientPermissions', 'Insufficient Permission', 'PERMISSION_DENIED') });
  const forbidden = await rejection(mailbox.fetchNew(10));
  assert.deepEqual([forbidden.retryable, forbidden.code], [false, 'mailbox_forbidden']);
  assert.equal(apiRequests(fake, 'GET', '').length, 2);
});

test('a revoked refresh token fails permanently at the token endpoint', async (context) => {
  const { fake, mailbox } = await setup(context, { auth: { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'revoked' } });
  const error = await rejection(mailbox.fetchNew(10));
  assert.deepEqual([error.retryable, error.code], [false, 'mailbox_auth']);
  assert.match(error.message, /invalid_grant/);
  const [token] = fake.requests.filter((request) => request.path === '/token');
  assert.deepEqual(token.body, { refresh_token: 'revoked', client_id: 'client-1', client_secret: 'secret-1', grant_type: 'refresh_token' });
});

test('send posts the raw reply with In-Reply-To and References, in the Gmail thread', async (context) => {
  const { fake, mailbox } = await setup(context);
  const original = fake.deliver(
    makeEmail({
      to: user,
      subject: 'Router',
      messageId: '<q-3@example.net>',
      headers: { References: '<q-1@example.net> <q-2@example.net>' },
    }),
  );
  const [{ email }] = await mailbox.fetchNew(10);
  const message_id = replyMessageId(mailboxKeyOf(email), email.agent_email);
  await mailbox.send({ email, message_id, subject: replySubject(email.subject), body: 'Hold reset for 10 seconds.' });

  const [send] = fake.requests.filter((request) => request.path.endsWith('/messages/send'));
  const body = send.body as { raw: string; threadId: string };
  assert.equal(body.threadId, fake.message(original)?.threadId);
  const raw = Buffer.from(body.raw, 'base64url').toString('utf8');
  assert.match(raw, /^In-Reply-To: <q-3@example\.net>$/m);
  assert.match(raw, /^References: <q-1@example\.net> <q-2@example\.net> <q-3@example\.net>$/m);
  assert.match(raw, new RegExp(`^Message-ID: ${message_id.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.equal(fake.sent()[0].threadId, fake.message(original)?.threadId, 'the reply sits in the same thread');
});

test('markTaken creates the processed label once, adds it and removes UNREAD', async (context) => {
  const { fake, mailbox, settings } = await setup(context);
  for (const subject of ['one', 'two']) fake.deliver(makeEmail({ to: user, subject }));
  const fetched = await mailbox.fetchNew(10);
  await Promise.all(fetched.map((incoming) => mailbox.markTaken(incoming.email)));
  const labelId = fake.userLabels().get('ragmail/processed');
  assert.ok(labelId);
  assert.equal(fake.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/labels')).length, 1);
  for (const incoming of fetched) {
    assert.deepEqual([...(fake.message(incoming.email.mailbox_ref)?.labelIds ?? [])].sort(), ['INBOX', labelId].sort());
  }
  // Another process finds the label instead of creating it again.
  const other = createGmailMailbox(settings);
  fake.deliver(makeEmail({ to: user, subject: 'three' }));
  const [third] = await other.fetchNew(10);
  await other.markTaken(third.email);
  assert.equal(fake.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/labels')).length, 1);
  assert.deepEqual(await other.fetchNew(10), []);
});

test('a message that can never be parsed is labelled aside, left unread, and not fetched again', async (context) => {
  const { fake, mailbox } = await setup(context);
  const bad = fake.deliver('Subject: no sender\r\n\r\nbody\r\n');
  fake.deliver(makeEmail({ to: user, subject: 'good' }));
  assert.deepEqual(
    (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
    ['good'],
  );
  assert.ok(fake.message(bad)?.labelIds.has('UNREAD'));
  assert.ok(fake.message(bad)?.labelIds.has(fake.userLabels().get('ragmail/processed') ?? '?'));
  assert.deepEqual(
    (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
    ['good'],
  );
});

test('a service account with domain-wide delegation authorises as the user', async (context) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  context.after(() => fs.rmSync(directory, { recursive: true, force: true }));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = path.join(directory, 'service-account.json');
  fs.writeFileSync(
    keyFile,
    JSON.stringify({
      type: 'service_account',
      client_email: 'ragmail@project.iam.gserviceaccount.com',
      private_key_id: 'key-1',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
  );
  const { fake, mailbox } = await setup(context, { auth: { serviceAccountKeyFile: keyFile } });
  fake.deliver(makeEmail({ to: user, subject: 'delegated' }));
  assert.deepEqual(
    (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
    ['delegated'],
  );
  const [token] = fake.requests.filter((request) => request.path === '/token');
  const form = token.body as { grant_type: string; assertion: string };
  assert.equal(form.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  const claims = JSON.parse(Buffer.from(form.assertion.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
  assert.equal(claims.sub, user);
  assert.equal(claims.iss, 'ragmail@project.iam.gserviceaccount.com');
});

test('checkGmail reads the profile, and reports rejected credentials without throwing', async (context) => {
  const { settings } = await setup(context);
  const good = await checkGmail(settings);
  assert.equal(good.ok, true, good.detail);
  assert.match(good.detail, /support@acme\.example/);

  const bad = await checkGmail({ ...settings, auth: { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'revoked' } });
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /credentials rejected/);
  assert.deepEqual(await checkGmail({ ...settings, user: '' }), { ok: false, latencyMs: 0, detail: 'GMAIL_USER is not set' });
});
