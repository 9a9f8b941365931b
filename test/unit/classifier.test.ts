/**
 * The classifier role with the local model (issue 12): precision first, nothing dropped silently.
 * Emails go through the poller's parser and the role's handler, as in production; only the broker
 * and the event stream are captures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { HandlerContext } from '../../src/messaging/consumer.js';
import { toClassifySchema, type ToRespondMessage } from '../../src/pipeline/messages.js';
import { createLogger } from '../../src/lib/log.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import { supportModel } from '../../src/providers/llm/local-classifier.js';
import { parseEmail } from '../../src/providers/mailbox/mime.js';
import { createClassifierHandler } from '../../src/roles/classifier.js';

const MAILBOX = 'support@acme.example';

/** Classifies one raw email with the local model; what the role published and emitted. */
async function classify(headers: Record<string, string>, body: string) {
  const raw =
    Object.entries({ To: MAILBOX, 'Message-ID': `<${Math.random()}@example.net>`, 'Content-Type': 'text/plain; charset=utf-8', ...headers })
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n') + `\r\n\r\n${body}\r\n`;
  const { email } = await parseEmail(Buffer.from(raw, 'utf8'), { agentEmail: MAILBOX, mailboxRef: 'test' });
  const published: ToRespondMessage[] = [];
  const events: Array<{ stage: string; detail?: Record<string, unknown> }> = [];
  const context = {
    role: 'classifier',
    logger: createLogger({ level: 'error', format: 'json', role: 'test' }),
    signal: new AbortController().signal,
    attempt: 1,
    priority: undefined,
    broker: {
      publish: async (_stage: unknown, message: ToRespondMessage) => {
        published.push(message);
      },
    },
    emit: async (fields: { stage: string; detail?: Record<string, unknown> }) => {
      events.push(fields);
    },
    // The next stage's message with its events riding on it: both kept as if published apart.
    forward: async (_stage: unknown, message: ToRespondMessage, carried: Array<{ stage: string; detail?: Record<string, unknown> }>) => {
      published.push(message);
      events.push(...carried);
    },
  } as unknown as HandlerContext;
  const message = toClassifySchema.parse({ message_id: 'm-1', timestamp: new Date().toISOString(), email });
  const outcome = await createClassifierHandler({ model: createLocalModel() })(message, context);
  return { outcome, classification: published[0]?.classification, event: events[0] };
}

test('a Japanese support question reaches the responder, its language recorded', async () => {
  const { outcome, classification, event } = await classify(
    { From: '=?UTF-8?B?55Sw5Lit?= <tanaka@example.jp>', Subject: '=?UTF-8?B?5rSX5r+v5qmf44GM5YuV44GN44G+44Gb44KT?=' },
    '洗濯機の電源が入らなくなりました。コンセントは確認しました。修理をお願いできますか。どうすればよいでしょうか。',
  );
  assert.equal(outcome.status, 'classified', JSON.stringify(event?.detail));
  assert.equal(classification?.language, 'ja');
  assert.equal(event?.detail?.language, 'ja');
});

test('a question in a language the local model was not trained on goes to review, never ignored', async () => {
  const { outcome, classification } = await classify(
    { From: 'Kim <kim@example.kr>', Subject: '=?UTF-8?B?6rKw7KCcIOusuOygnA==?=' },
    '안녕하세요. 어제 주문한 상품이 아직 도착하지 않았습니다. 배송 상태를 확인해 주실 수 있나요? 감사합니다.',
  );
  assert.equal(outcome.status, 'classified');
  assert.equal(classification?.language, 'ko');
  assert.match(classification?.review_reason ?? '', /language ko: the local model cannot judge it/);
});

test('a spam written as a request for help is not answered without review', async () => {
  const { outcome, classification } = await classify(
    { From: 'Customer Care <care@streamflicks-billing.example>', Subject: 'Problem with your account - we need your help' },
    'Dear customer, we were unable to verify your account and it will be suspended. Can you help us fix this problem? ' +
      'Please confirm your card details within 24 hours here: http://streamflicks-billing.example/verify. Need help? Reply to this email.',
  );
  assert.ok(outcome.status === 'ignored' || classification?.review_reason, `auto-answerable: ${JSON.stringify(classification)}`);
});

test('a newsletter full of questions is ignored, and the reasoning names what decided', async () => {
  const { outcome, event } = await classify(
    { From: 'Growth Weekly <editor@growthweekly.example>', Subject: 'Is your support team overwhelmed? 5 questions to ask' },
    'Hi there,\n\nIs your onboarding too long? Do users know what to do after sign-up? Are you measuring activation? ' +
      "In this week's issue we answer five questions every team should ask, with examples from 20 companies.\n\n" +
      'Read the issue: https://growthweekly.example/issue/113\nSponsored: https://sponsor.example\n\n' +
      'You are receiving this because you subscribed. Unsubscribe: https://growthweekly.example/u',
  );
  assert.equal(outcome.status, 'ignored', JSON.stringify(event?.detail));
  assert.match(String(event?.detail?.reasoning), /against: .*\[opt-out footer\]/);
});

test('an answer that quotes the question is not taken for the question', async () => {
  const { outcome, event } = await classify(
    { From: 'Dana <dana@example.net>', Subject: 'Re: How do I reset my router password?', References: '<q-1@example.net>' },
    'Thanks, that worked perfectly.\n\nOn Mon, 3 Jun 2024, Support wrote:\n> Hold the reset button for ten seconds.\n>\n> Dana wrote:\n>> How do I reset my router password? I cannot log in.',
  );
  assert.equal(outcome.status, 'ignored', JSON.stringify(event?.detail));
});

test('an English bug report without a question mark reaches the responder', async () => {
  const { outcome, classification } = await classify(
    { From: 'Nora <nora@example.net>', Subject: 'App closes when I open the camera' },
    'The app closes immediately every time I tap the camera icon to scan a receipt. Pixel 8, app version 3.9.1. ' +
      'Reinstalling did not help. I need this for my expense report this week.',
  );
  assert.equal(outcome.status, 'classified', JSON.stringify(classification));
  assert.equal(classification?.language, 'en');
});

test('a support question that only copies the mailbox goes to review', async () => {
  const { outcome, classification } = await classify(
    { From: 'Dana <dana@example.net>', To: 'colleague@example.net', Cc: MAILBOX, Subject: 'How do I reset my router password?' },
    'Hi, I forgot the admin password of my router. How can I reset it? Thanks, Dana',
  );
  assert.equal(outcome.status, 'classified');
  assert.match(classification?.review_reason ?? '', /only copied/);
});

/** The hand-written edge cases of eval/classify/edge-cases.jsonl (eval/classify/README.md lists how each comes out). */
const edgeCases = readFileSync(new URL('../../eval/classify/edge-cases.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map(
    (line) =>
      JSON.parse(line) as { id: string; label: 'support' | 'not_support'; from: string; subject: string; body: string; headers?: Record<string, string> },
  );
const JUDGED_LANGUAGES = new Set(supportModel.languages);

for (const edge of edgeCases) {
  test(`edge case ${edge.id} (${edge.label}): nothing other than support is answered without review, no language the model cannot judge is ignored`, async () => {
    const { outcome, classification, event } = await classify({ From: edge.from, Subject: edge.subject, ...edge.headers }, edge.body);
    const answered = outcome.status === 'classified' && !classification?.review_reason;
    if (edge.label === 'not_support') assert.ok(!answered, `answered without review: ${JSON.stringify(classification)}`);
    const language = String(classification?.language ?? event?.detail?.language);
    if (!JUDGED_LANGUAGES.has(language)) {
      assert.equal(outcome.status, 'classified', `${language}: ${JSON.stringify(event?.detail)}`);
      assert.match(classification?.review_reason ?? '', new RegExp(`language ${language}: the local model cannot judge it`));
    }
  });
}

test('a customer answering the mailbox ("still not working") is read by a person, never ignored: by the reply id ragmail wrote, or by the quoted attribution naming the mailbox', async () => {
  const ragmailReply = '<ragmail.0123456789abcdef0123456789abcdef@acme.example>';
  const byId = await classify(
    { From: 'lena@example.net', Subject: 'Re: Sync issue', 'In-Reply-To': ragmailReply, References: ragmailReply },
    'Did that, no change.',
  );
  assert.equal(byId.outcome.status, 'classified');
  assert.match(byId.classification?.review_reason ?? '', /reply to the mailbox's own message/);
  const byAttribution = await classify(
    { From: 'lena@example.net', Subject: 'Re: Sync issue', 'In-Reply-To': '<a1@mail.acme.example>' },
    `Did that, no change.\n\nOn Wed, 3 Jan 2024, Support <${MAILBOX}> wrote:\n> Please reinstall the app and sign in again.`,
  );
  assert.equal(byAttribution.outcome.status, 'classified');
  assert.match(byAttribution.classification?.review_reason ?? '', /reply to the mailbox's own message/);
  // The same words as a reply in someone else's conversation stay the model's to judge.
  const elsewhere = await classify(
    { From: 'lena@example.net', Subject: 'Re: Sync issue', 'In-Reply-To': '<a1@lists.example.org>' },
    'Did that, no change.\n\nOn Wed, 3 Jan 2024, Bob <bob@lists.example.org> wrote:\n> Please reinstall the app and sign in again.',
  );
  assert.doesNotMatch(elsewhere.classification?.review_reason ?? '', /reply to the mailbox's own message/);
});
