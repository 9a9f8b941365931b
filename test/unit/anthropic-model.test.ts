import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAnthropic, createAnthropicModel } from '../../src/providers/llm/anthropic.js';
import { ProviderCallError } from '../../src/providers/llm/errors.js';
import { languageModelContract, passages, supportEmail } from '../contracts/language-model.js';
import { anthropicErrorResponse, anthropicTextResponse, startFakeAnthropic, type FakeServer } from '../fakes/anthropic-server.js';

const API_KEY = 'test-anthropic-key';
const MODEL = 'claude-sonnet-4-6';
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

async function fakeAndModel(timeoutMs = 5_000) {
  const fake = await startFakeAnthropic({ apiKey: API_KEY });
  servers.push(fake);
  return { fake, model: createAnthropicModel({ apiKey: API_KEY, model: MODEL, baseUrl: fake.url, timeoutMs }) };
}

interface MessagesRequest {
  model: string;
  max_tokens: number;
  system: string;
  messages: Array<{ role: string; content: string }>;
}

languageModelContract('anthropic (loopback fake)', async () => (await fakeAndModel()).model);

test('classification posts /v1/messages with the key, a system prompt and the fenced email; usage from the answer', async () => {
  const { fake, model } = await fakeAndModel();
  const result = await model.classify(supportEmail);
  assert.equal(fake.requests.length, 1);
  const [request] = fake.requests;
  assert.equal(request.method, 'POST');
  assert.equal(request.path, '/v1/messages');
  // SDK 1.x sends the key as a bearer token; older ones as x-api-key.
  assert.ok(request.headers.authorization === `Bearer ${API_KEY}` || request.headers['x-api-key'] === API_KEY, 'the key is sent');
  assert.ok(request.headers['anthropic-version'], 'the SDK names the API version');
  const body = request.body as MessagesRequest;
  assert.equal(body.model, MODEL);
  assert.ok(body.max_tokens > 0);
  assert.match(body.system, /JSON object/);
  assert.doesNotMatch(body.system, /Dana/, 'the email stays out of the system prompt');
  assert.match(body.messages[0].content, /<(untrusted_email_[0-9a-f]{8})>[\s\S]*reset my router password[\s\S]*<\/\1>/);
  assert.equal(result.provider, 'anthropic');
  assert.equal(result.model, MODEL);
  assert.equal(result.value.is_support_inquiry, true);
  assert.ok(result.usage.input_tokens > 20 && result.usage.output_tokens > 0, JSON.stringify(result.usage));
});

test('429 rate_limit_error with retry-after is a retryable llm_quota carrying the delay, not retried by the SDK', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicErrorResponse(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { retryAfter: '7' }));
  const error = await model.classify(supportEmail).then(
    () => assert.fail('should reject'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ProviderCallError, String(error));
  assert.equal(error.code, 'llm_quota');
  assert.equal(error.retryable, true);
  assert.equal(error.retryAfterMs, 7_000);
  assert.match(error.message, /anthropic .*HTTP 429 rate_limit_error.*retry after 7s/);
  assert.equal(fake.requests.length, 1, 'maxRetries is 0');
});

test('500 api_error and 529 overloaded_error are retryable llm_server_error', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicErrorResponse(500, 'api_error', 'Internal server error'));
  await assert.rejects(model.reply({ email: supportEmail, passages }), { code: 'llm_server_error', retryable: true, status: 500 });
  fake.enqueue(anthropicErrorResponse(529, 'overloaded_error', 'Overloaded'));
  await assert.rejects(model.reply({ email: supportEmail, passages }), { code: 'llm_server_error', retryable: true, status: 529 });
  assert.equal(fake.requests.length, 2);
});

test('a wrong key (401 authentication_error) is a permanent llm_unauthorized naming the status', async () => {
  const { fake } = await fakeAndModel();
  const model = createAnthropicModel({ apiKey: 'wrong-key', model: MODEL, baseUrl: fake.url, timeoutMs: 5_000 });
  await assert.rejects(model.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_unauthorized');
    assert.equal(error.retryable, false);
    assert.match(error.message, /HTTP 401 authentication_error.*invalid x-api-key/);
    return true;
  });
});

test('400 invalid_request_error is a permanent llm_rejected', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicErrorResponse(400, 'invalid_request_error', 'prompt is too long: 250000 tokens > 200000 maximum'));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_rejected', retryable: false, status: 400 });
});

test('an answer slower than the timeout is a retryable llm_timeout', async () => {
  const { fake, model } = await fakeAndModel(300);
  fake.enqueue(anthropicTextResponse('{}', MODEL, 3_000));
  const startedAt = Date.now();
  await assert.rejects(model.classify(supportEmail), { code: 'llm_timeout', retryable: true });
  assert.ok(Date.now() - startedAt < 2_500, 'the call gave up at the timeout');
  assert.equal(fake.requests.length, 1, 'a timeout is not retried by the SDK');
});

test("the caller's abort during a call is llm_aborted, not a timeout", async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicTextResponse('{}', MODEL, 3_000));
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  await assert.rejects(model.classify(supportEmail, { signal: controller.signal }), { code: 'llm_aborted' });
});

test('malformed output gets one repair turn showing the bad answer and the error; the good second answer is used', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicTextResponse('I think this is a support request about a router.'));
  const result = await model.classify(supportEmail);
  assert.equal(fake.requests.length, 2);
  const repair = fake.requests[1].body as MessagesRequest;
  assert.deepEqual(
    repair.messages.map((message) => message.role),
    ['user', 'assistant', 'user'],
  );
  assert.equal(repair.messages[1].content, 'I think this is a support request about a router.');
  assert.match(repair.messages[2].content, /could not be used: model answer holds no JSON object/);
  assert.equal(result.value.is_support_inquiry, true);
});

test('two malformed answers throw a retryable llm_malformed_output after exactly one repair', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(anthropicTextResponse('{"category": "nonsense"}'));
  fake.enqueue(anthropicTextResponse('{"category": "still nonsense"}'));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_malformed_output', retryable: true });
  assert.equal(fake.requests.length, 2);
});

test('checkAnthropic: ok with a good key, not ok with the reason for a wrong key, an unreachable server or no key', async () => {
  const { fake } = await fakeAndModel();
  const good = await checkAnthropic({ apiKey: API_KEY, model: MODEL, baseUrl: fake.url, timeoutMs: 2_000 });
  assert.equal(good.ok, true, good.detail);
  assert.equal(fake.requests.at(-1)?.path, `/v1/models/${MODEL}`);
  const wrongKey = await checkAnthropic({ apiKey: 'wrong', model: MODEL, baseUrl: fake.url, timeoutMs: 2_000 });
  assert.equal(wrongKey.ok, false);
  assert.match(wrongKey.detail, /llm_unauthorized.*401.*invalid x-api-key/);
  const closed = await startFakeAnthropic();
  await closed.close();
  const unreachable = await checkAnthropic({ apiKey: API_KEY, model: MODEL, baseUrl: closed.url, timeoutMs: 2_000 });
  assert.equal(unreachable.ok, false);
  assert.match(unreachable.detail, /llm_unreachable/);
  const missing = await checkAnthropic({ apiKey: '', model: MODEL, timeoutMs: 2_000 });
  assert.deepEqual(missing, { ok: false, latencyMs: 0, detail: 'ANTHROPIC_API_KEY is not set' });
});

test('a retry-after given as an HTTP date is honoured as a delay too', async () => {
  const { fake, model } = await fakeAndModel();
  const retryAt = new Date(Date.now() + 30_000).toUTCString();
  fake.enqueue(anthropicErrorResponse(429, 'rate_limit_error', 'Rate limited', { retryAfter: retryAt }));
  await assert.rejects(model.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_quota');
    assert.ok(error.retryAfterMs !== undefined && error.retryAfterMs > 25_000 && error.retryAfterMs <= 30_000, String(error.retryAfterMs));
    return true;
  });
});
