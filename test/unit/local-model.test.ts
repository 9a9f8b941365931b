import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContextItem } from '../../src/messaging/schemas.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import type { EmailText } from '../../src/providers/llm/spec.js';
import { languageModelContract, passages, supportEmail } from '../contracts/language-model.js';
import { CRAFTED_INPUT_LIMIT_MS, withinTime } from '../helpers/time-limit.js';

languageModelContract('local', () => createLocalModel());

const customer = 'Sam Customer <sam@example.net>';

const classificationTable: Array<{ email: EmailText; support: boolean; category: string }> = [
  {
    email: { from: customer, subject: 'Router password reset', body: 'Hi, I forgot my router admin password. How can I reset it?' },
    support: true,
    category: 'account',
  },
  {
    email: { from: customer, subject: 'Firmware update fails', body: 'The firmware update stops at 80% with an error. What should I do?' },
    support: true,
    category: 'technical',
  },
  {
    email: { from: customer, subject: 'URGENT internet down LED red', body: 'Since this morning the internet is down and the LED is red. Please help!' },
    support: true,
    category: 'technical',
  },
  {
    email: { from: customer, subject: 'Refund for order 1182', body: 'I returned the device last week. When will I get my refund?' },
    support: true,
    category: 'billing',
  },
  {
    email: { from: customer, subject: 'Invoice missing', body: 'Can you send me the invoice for my March payment? I need it for my accountant.' },
    support: true,
    category: 'billing',
  },
  {
    email: { from: customer, subject: 'Cancel subscription', body: 'I would like to cancel my subscription at the end of this month. How do I do that?' },
    support: true,
    category: 'billing',
  },
  {
    email: { from: customer, subject: 'Warranty question', body: 'My router is 18 months old. Is it still under warranty?' },
    support: true,
    category: 'general',
  },
  {
    email: {
      from: 'Acme News <news@acme.example>',
      subject: 'Our spring newsletter: 20% off all routers',
      body: 'Read our newsletter, join the webinar on mesh networks, and enjoy the spring sale. Unsubscribe at any time.',
    },
    support: false,
    category: 'marketing',
  },
  {
    email: { from: 'Lucky Draw <prizes@win.example>', subject: 'You WON $1,000,000', body: 'You WON $1,000,000 click here to claim your prize!' },
    support: false,
    category: 'spam',
  },
  {
    email: {
      from: customer,
      subject: 'Automatic reply: Router password reset',
      body: 'I am out of the office until Monday with limited access to email. For urgent issues please contact my colleague.',
    },
    support: false,
    category: 'automated',
  },
  {
    email: { from: 'MAILER-DAEMON@mail.example', subject: 'Undeliverable: your reply', body: 'Delivery has failed to these recipients: error 550.' },
    support: false,
    category: 'automated',
  },
  {
    email: { from: customer, subject: 'Re: Router password reset', body: 'Thanks, that fixed it!' },
    support: false,
    category: 'other',
  },
];

for (const { email, support, category } of classificationTable) {
  test(`classifies "${email.subject}" as ${support ? 'support' : 'not support'} / ${category}`, async () => {
    const { value } = await createLocalModel().classify(email);
    assert.equal(value.is_support_inquiry, support, value.reasoning);
    assert.equal(value.category, category, value.reasoning);
    assert.ok(value.confidence >= 0 && value.confidence <= 0.95, `confidence ${value.confidence}`);
    assert.match(value.reasoning, /signals/);
  });
}

test('weak evidence gives confidence below 0.6, a clear case above 0.7', async () => {
  const model = createLocalModel();
  const thanks = await model.classify({ from: customer, subject: 'Re: your answer', body: 'Thanks, that fixed it!' });
  assert.ok(thanks.value.confidence < 0.6, `borderline confidence ${thanks.value.confidence}`);
  const outage = classificationTable[2].email;
  const clear = await model.classify(outage);
  assert.ok(clear.value.confidence > 0.7, `clear confidence ${clear.value.confidence}`);
});

test('reasoning names the rules that fired', async () => {
  const { value } = await createLocalModel().classify(classificationTable[1].email);
  assert.match(value.reasoning, /firmware/);
  assert.match(value.reasoning, /update/);
  assert.match(value.reasoning, /error/);
});

test('is deterministic: the same input gives the same classification, reply and token counts', async () => {
  const first = createLocalModel();
  const second = createLocalModel();
  for (const email of classificationTable.map((row) => row.email)) {
    const [a, b] = [await first.classify(email), await second.classify(email)];
    assert.deepEqual(a.value, b.value);
    assert.deepEqual(a.usage, b.usage);
  }
  const [replyA, replyB] = [await first.reply({ email: supportEmail, passages }), await second.reply({ email: supportEmail, passages })];
  assert.equal(replyA.value.body, replyB.value.body);
  assert.deepEqual(replyA.usage, replyB.usage);
});

/** The quoted-sentence lines of a reply: bullets before the "Sources:" list. */
function quotedLines(body: string): string[] {
  return body.split('Sources:')[0].split('\n').filter((line) => line.startsWith('- "'));
}

/** Reset on page 3 and firmware on page 4, deliberately listed firmware first. */
const manualPassages: ContextItem[] = [passages[1], passages[0]];

test('a firmware question quotes the firmware passage and cites page 4 first', async () => {
  const email = { from: customer, subject: 'Firmware update', body: 'How do I update the firmware of my router?' };
  const { value } = await createLocalModel().reply({ email, passages: manualPassages });
  const firstQuote = quotedLines(value.body)[0];
  assert.ok(firstQuote?.includes('"router-manual.pdf", page 4'), value.body);
  assert.match(firstQuote ?? '', /[Ff]irmware/);
});

test('a reset question quotes the reset passage first even when retrieval ranked it second', async () => {
  const email = { from: customer, subject: 'Password reset', body: 'I forgot the admin password. How do I reset the password?' };
  const { value } = await createLocalModel().reply({ email, passages: manualPassages });
  const quotes = quotedLines(value.body);
  assert.ok(quotes.length >= 1 && quotes.length <= 4, value.body);
  assert.ok(quotes[0].includes('"router-manual.pdf", page 3'), value.body);
  assert.match(quotes[0], /reset/i);
});

test('the reply is built only from the passages, with greeting, sources and an honest sign-off', async () => {
  const { value } = await createLocalModel().reply({ email: supportEmail, passages });
  assert.ok(value.body.startsWith('Hello,'), value.body);
  assert.match(value.body, /documentation/);
  assert.match(value.body, /Sources:\n- "router-manual\.pdf", page 3/);
  assert.match(value.body, /prepared automatically/);
  assert.match(value.body, /member of our support team/);
  const quotes = quotedLines(value.body);
  assert.ok(quotes.length > 0, value.body);
  for (const line of quotes) {
    const quoted = /^- "(.*)" \(/.exec(line)?.[1] ?? '';
    assert.ok(passages.some((passage) => passage.text.includes(quoted)), `quoted text is not in a passage: ${quoted}`);
  }
});

test('with no passages the reply is a hand-off to a person, without citations', async () => {
  const { value } = await createLocalModel().reply({ email: supportEmail, passages: [] });
  assert.match(value.body, /a member of our support team will get back to you/);
  assert.doesNotMatch(value.body, /page \d/);
});

test('passages that share no word with the email give a hand-off instead of an unrelated quote', async () => {
  const email = { from: customer, subject: 'Battery', body: 'Which battery type does the remote take?' };
  const { value } = await createLocalModel().reply({ email, passages });
  assert.match(value.body, /a member of our support team will get back to you/);
});

test('reports provider local, model local-rules-v1, or the given name', async () => {
  assert.equal(createLocalModel().provider, 'local');
  assert.equal(createLocalModel().model, 'local-rules-v1');
  const named = createLocalModel({ name: 'local-test' });
  const result = await named.classify(supportEmail);
  assert.equal(result.model, 'local-test');
  assert.equal(result.provider, 'local');
});

// Crafted bodies of 200 KB: before the rules were made linear, `\d+\s?% off` alone rescanned a
// run of digits from every digit (about 25 s for 200 KB of digits).
const craftedBodies: Array<[string, string]> = [
  ['digits', '1'.repeat(200_000)],
  ['a dollar sign and digits', `$${'1'.repeat(200_000)}`],
  ['digits and spaces', '1 '.repeat(100_000)],
];

for (const [label, body] of craftedBodies) {
  test(`classifying 200 KB of ${label} takes well under 2 s`, async () => {
    const { value } = await withinTime(CRAFTED_INPUT_LIMIT_MS, `classify ${label}`, () =>
      createLocalModel().classify({ from: customer, subject: 'Order', body }));
    assert.equal(value.is_support_inquiry, false, value.reasoning);
  });

  test(`replying to 200 KB of ${label} takes well under 2 s`, async () => {
    const { value } = await withinTime(CRAFTED_INPUT_LIMIT_MS, `reply to ${label}`, () =>
      createLocalModel().reply({ email: { from: customer, subject: 'Firmware update', body: `How do I update the firmware? ${body}` }, passages: manualPassages }));
    assert.match(value.body, /page 4/);
  });
}

test('"20% off" and "20 % off" still count as marketing', async () => {
  for (const subject of ['20% off all routers', 'Save 20 % off today']) {
    const { value } = await createLocalModel().classify({ from: 'Acme <news@acme.example>', subject, body: 'See the shop.' });
    assert.match(value.reasoning, /percent off/, subject);
  }
});
