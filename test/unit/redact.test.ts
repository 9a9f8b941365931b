import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { createLanguageModel } from '../../src/app/providers.js';
import { createGeminiModel } from '../../src/providers/llm/gemini.js';
import { isValidIban, passesLuhn, PLACEHOLDERS, redactSensitive, withoutQuotedInput } from '../../src/lib/redact.js';
import { createRedactingModel } from '../../src/providers/llm/redacting.js';
import { startFakeGemini, type FakeServer } from '../fakes/gemini-server.js';
import { CRAFTED_INPUT_LIMIT_MS, withinTime } from '../helpers/time-limit.js';

const VISA = '4111 1111 1111 1111';
const MASTERCARD = '5555-5555-5555-4444';
const AMEX = '378282246310005';
const IBAN = 'DE89 3704 0044 0532 0130 00';

test('Luhn-valid card numbers are removed, with spaces, dashes or none', () => {
  const { text, findings } = redactSensitive(`Visa ${VISA}, MC ${MASTERCARD}, Amex ${AMEX}.`);
  assert.equal(text, 'Visa [card number removed], MC [card number removed], Amex [card number removed].');
  assert.deepEqual(findings, { card_number: 3 });
});

test('numbers that fail the Luhn check, order numbers and short numbers are kept', () => {
  const kept = [
    'My order 4111 1111 1111 1112 never arrived', // one digit off a valid card
    'Order #2024-0042-7781 and invoice 1234567890123',
    'Tracking 1Z999AA10123456784, call +49 30 1234 5678',
    'Serial 9111111111111111 (starts with a digit no card issuer uses)',
  ];
  for (const sample of kept) {
    const digitsBefore = sample.replace(/\D/g, '');
    const { text, findings } = redactSensitive(sample);
    assert.equal(text, sample, `kept: ${sample}`);
    assert.deepEqual(findings, {});
    assert.equal(text.replace(/\D/g, ''), digitsBefore);
  }
  assert.equal(passesLuhn('4111111111111112'), false);
  assert.equal(passesLuhn('4111111111111111'), true);
});

test('a card number followed by a year is found, the year kept', () => {
  assert.equal(redactSensitive(`card ${VISA.replace(/ /g, '-')} 2027`).text, 'card [card number removed] 2027');
});

test('IBANs with a valid checksum are removed; a wrong checksum is kept', () => {
  const { text, findings } = redactSensitive(`Pay to ${IBAN} or GB82WEST12345698765432 THANKS`);
  assert.equal(text, 'Pay to [IBAN removed] or [IBAN removed] THANKS');
  assert.deepEqual(findings, { iban: 2 });
  assert.equal(isValidIban('GB82WEST12345698765431'), false);
  assert.equal(redactSensitive('ref GB82WEST12345698765431').text, 'ref GB82WEST12345698765431');
});

test('API keys and tokens of well-known formats are removed', () => {
  const keys = [
    'sk-ant-api03-Xy7aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
    'AKIAIOSFODNN7EXAMPLE',
    'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB',
    'AIzaSyA1234567890abcdefghijklmnopqrstuv',
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
  ];
  for (const key of keys) {
    const { text, findings } = redactSensitive(`here is my key ${key} thanks`);
    assert.equal(text, 'here is my key [API key removed] thanks', key);
    assert.deepEqual(findings, { api_key: 1 });
  }
});

test('passwords and secrets after a label are removed, the label kept', () => {
  const { text, findings } = redactSensitive(
    [
      'Login: dana@example.com',
      'Password: hunter2!',
      'pwd="c0rrect horse"',
      'token: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'api_key=abcd1234efgh5678',
      'Authorization: Bearer abcdefghijklmnop.qrstuvwx',
    ].join('\n'),
  );
  assert.equal(
    text,
    [
      'Login: dana@example.com',
      'Password: [password removed]',
      'pwd=[password removed]',
      'token: [secret removed]',
      'api_key=[secret removed]',
      'Authorization: Bearer [secret removed]',
    ].join('\n'),
  );
  assert.ok(!text.includes('hunter2'));
  assert.ok(!text.includes('9f86d081'));
  assert.ok(!text.includes('abcd1234efgh5678'));
  assert.ok(!text.includes('abcdefghijklmnop'));
  assert.equal(findings.password, 2);
  assert.equal(findings.secret, 3);
});

test('"my password is not working" is a question, not a secret: kept', () => {
  const sample = 'My password is not working and the reset token expired. Password:\nplease help';
  assert.equal(redactSensitive(sample).text, sample);
});

test('JSON.parse errors lose the quoted input, keep the reason', () => {
  let message = '';
  try {
    JSON.parse(`my card is ${VISA}`);
  } catch (error) {
    message = (error as Error).message;
  }
  assert.match(message, /4111|my card/, 'node quotes the input in the error');
  const cleaned = withoutQuotedInput(message);
  assert.doesNotMatch(cleaned, /my card|4111/);
  assert.match(cleaned, /is not valid JSON/);
});

const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

const emailWithCard = {
  from: 'Dana <dana@example.com>',
  subject: `Refund to card ${VISA}`,
  body: `Hello, I was charged twice. Please refund card ${MASTERCARD}; my password: hunter2 is not needed. Order 4111 1111 1111 1112.`,
};

/** Every text the fake received, as one string. */
const receivedText = (fake: FakeServer) => JSON.stringify(fake.requests.map((request) => request.body));

test('the redacting model sends Gemini the email without card numbers or password, and order numbers intact', async () => {
  const fake = await startFakeGemini({ apiKey: 'key' });
  servers.push(fake);
  const redacted: Array<Record<string, number>> = [];
  const model = createRedactingModel(createGeminiModel({ apiKey: 'key', model: 'gemini-2.5-flash', baseUrl: fake.url, timeoutMs: 5_000 }), {
    onRedacted: (findings) => redacted.push(findings),
  });
  assert.equal(model.provider, 'gemini');
  const result = await model.classify(emailWithCard);
  assert.equal(typeof result.value.is_support_inquiry, 'boolean');
  await model.reply({
    email: emailWithCard,
    passages: [{ document_id: 'd', source: 'refunds.pdf', page: 2, chunk_index: 0, similarity_score: 0.9, text: 'Refunds take 5 days.' }],
  });
  const sent = receivedText(fake);
  assert.equal(fake.requests.length, 2);
  for (const secret of ['4111 1111 1111 1111', '5555-5555-5555-4444', 'hunter2']) assert.ok(!sent.includes(secret), `${secret} reached the fake`);
  assert.ok(sent.includes('[card number removed]'));
  assert.ok(sent.includes('4111 1111 1111 1112'), 'the order number is kept');
  assert.ok(sent.includes('Refunds take 5 days.'), 'passages are sent as they are');
  assert.deepEqual(redacted[0], { card_number: 2, password: 1 });
});

for (const setting of ['true', 'false'] as const) {
  test(`REDACT_BEFORE_LLM=${setting}: the factory's Gemini model ${setting === 'true' ? 'does not send' : 'sends'} the card number`, async () => {
    const fake = await startFakeGemini({ apiKey: 'key' });
    servers.push(fake);
    const config = loadConfig({ LLM_PROVIDERS: 'gemini', GEMINI_API_KEY: 'key', GEMINI_BASE_URL: fake.url, REDACT_BEFORE_LLM: setting });
    const model = createLanguageModel(config, createLogger({ level: 'error', format: 'json', role: 'test' }));
    await model.classify(emailWithCard);
    assert.equal(fake.requests.length, 1);
    assert.equal(receivedText(fake).includes(VISA), setting === 'false');
    assert.equal(receivedText(fake).includes(MASTERCARD), setting === 'false');
  });
}

// Crafted texts of about 250 KB. Before, every `eyJ` after a dash started a scan of the rest of
// the run (14 to 50 s for 250 KB), and every BEGIN line without an END scanned to the end of the
// text (1.5 s for 224 KB, growing with the square). The last three guard the card, IBAN and
// password patterns, measured linear, against a change that would make them rescan.
const craftedTexts: Array<[string, string]> = [
  ['eyJ- repeated (JSON Web Token starts)', 'eyJ-'.repeat(62_500)],
  ['BEGIN PRIVATE KEY lines without an END', '-----BEGIN PRIVATE KEY-----\n'.repeat(9_000)],
  ['digits and spaces (card candidates)', '4 '.repeat(125_000)],
  ['IBAN-like groups', 'DE89 '.repeat(50_000)],
  ['password labels and quotes', 'pass:"'.repeat(42_000)],
];

for (const [label, text] of craftedTexts) {
  test(`redacting ${label} takes well under 2 s and keeps the text`, async () => {
    const { text: redacted } = await withinTime(CRAFTED_INPUT_LIMIT_MS, `redact ${label}`, () => redactSensitive(text));
    assert.ok(redacted.length > 0);
  });
}

test('a private key and a JSON Web Token are still removed', () => {
  const key =
    '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,3F17\n\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF0qx\n-----END RSA PRIVATE KEY-----';
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
  const { text, findings } = redactSensitive(`key:\n${key}\nand Authorization=${jwt} ok`);
  assert.equal(text, `key:\n${PLACEHOLDERS.private_key}\nand Authorization=${PLACEHOLDERS.api_key} ok`);
  assert.deepEqual(findings, { private_key: 1, api_key: 1 });
});

test('withoutQuotedInput takes well under 2 s on 200 KB of quote marks', async () => {
  // Before, each of the 100,000 quote marks started a scan to the end (no quote just before the reason).
  const unquoted = `Unexpected token 'x', ${'"a'.repeat(100_000)} is not valid JSON`;
  assert.equal(await withinTime(CRAFTED_INPUT_LIMIT_MS, 'withoutQuotedInput', () => withoutQuotedInput(unquoted)), unquoted);
  const quoted = `Unexpected token 'x', "${'"'.repeat(200_000)}"... is not valid JSON`;
  assert.equal(
    await withinTime(CRAFTED_INPUT_LIMIT_MS, 'withoutQuotedInput', () => withoutQuotedInput(quoted)),
    "Unexpected token 'x', (input not shown) is not valid JSON",
  );
});
