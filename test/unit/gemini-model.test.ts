import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGemini, createGeminiModel } from '../../src/providers/llm/gemini.js';
import { ProviderCallError } from '../../src/providers/llm/errors.js';
import { languageModelContract, passages, supportEmail } from '../contracts/language-model.js';
import { geminiErrorResponse, geminiTextResponse, startFakeGemini, type FakeServer } from '../fakes/gemini-server.js';

const API_KEY = 'test-gemini-key';
const MODEL = 'gemini-2.5-flash';
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

async function fakeAndModel(timeoutMs = 5_000) {
  const fake = await startFakeGemini({ apiKey: API_KEY });
  servers.push(fake);
  return { fake, model: createGeminiModel({ apiKey: API_KEY, model: MODEL, baseUrl: fake.url, timeoutMs }) };
}

interface GenerateContentRequest {
  contents: Array<{ role: string; parts: Array<{ text: string }> }>;
  systemInstruction: { parts: Array<{ text: string }> };
  generationConfig: { responseMimeType?: string; responseSchema?: { required?: string[] } };
}

languageModelContract('gemini (loopback fake)', async () => (await fakeAndModel()).model);

test('classification asks generateContent for JSON with a response schema, the email fenced, usage from usageMetadata', async () => {
  const { fake, model } = await fakeAndModel();
  const result = await model.classify(supportEmail);
  assert.equal(fake.requests.length, 1);
  const [request] = fake.requests;
  assert.equal(request.method, 'POST');
  assert.equal(request.path, `/v1beta/models/${MODEL}:generateContent`);
  assert.equal(request.headers['x-goog-api-key'], API_KEY);
  const body = request.body as GenerateContentRequest;
  assert.equal(body.generationConfig.responseMimeType, 'application/json');
  assert.deepEqual(body.generationConfig.responseSchema?.required, ['is_support_inquiry', 'category', 'confidence', 'reasoning']);
  assert.match(body.contents[0].parts[0].text, /<(untrusted_email_[0-9a-f]{8})>[\s\S]*reset my router password[\s\S]*<\/\1>/);
  assert.doesNotMatch(body.systemInstruction.parts[0].text, /Dana/, 'the email stays out of the system instruction');
  assert.equal(result.provider, 'gemini');
  assert.equal(result.model, MODEL);
  assert.ok(result.usage.input_tokens > 20 && result.usage.output_tokens > 0, JSON.stringify(result.usage));
});

test('a reply request asks for JSON with the reply schema, gets the passages and the fenced email, and returns the verdict', async () => {
  const { fake, model } = await fakeAndModel();
  const result = await model.reply({ email: supportEmail, passages });
  const body = fake.requests[0].body as GenerateContentRequest;
  assert.equal(body.generationConfig.responseMimeType, 'application/json');
  assert.deepEqual(body.generationConfig.responseSchema?.required, ['reply', 'answerable', 'confidence', 'cited']);
  assert.match(body.contents[0].parts[0].text, /\[1\] "router-manual.pdf", page 3/);
  assert.match(body.contents[0].parts[0].text, /<untrusted_email_[0-9a-f]{8}>/);
  assert.match(result.value.body, /"router-manual.pdf", page 3/);
  assert.equal(result.value.verdict?.answerable, true);
  assert.deepEqual(result.value.verdict?.cited, [1]);
});

test('429 RESOURCE_EXHAUSTED with RetryInfo is a retryable llm_quota carrying the retry delay, not retried by the SDK', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota. Please retry in 7.5s.', { retryDelay: '7s' }));
  const error = await model.classify(supportEmail).then(
    () => assert.fail('should reject'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ProviderCallError, String(error));
  assert.equal(error.code, 'llm_quota');
  assert.equal(error.retryable, true);
  assert.equal(error.status, 429);
  assert.equal(error.retryAfterMs, 7_000);
  assert.match(error.message, /429 RESOURCE_EXHAUSTED.*retry after 7s/);
  assert.equal(fake.requests.length, 1, 'the SDK does not retry on its own');
});

test('500 INTERNAL is a retryable llm_server_error', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiErrorResponse(500, 'INTERNAL', 'An internal error has occurred.'));
  await assert.rejects(model.reply({ email: supportEmail, passages }), { code: 'llm_server_error', retryable: true, status: 500 });
  assert.equal(fake.requests.length, 1);
});

test('401 UNAUTHENTICATED is a permanent llm_unauthorized naming the status', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiErrorResponse(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
  await assert.rejects(model.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_unauthorized');
    assert.equal(error.retryable, false);
    assert.match(error.message, /gemini .*HTTP 401 UNAUTHENTICATED/);
    return true;
  });
});

test('a wrong API key (Gemini answers 400 API_KEY_INVALID) is a permanent llm_unauthorized', async () => {
  const { fake } = await fakeAndModel();
  const model = createGeminiModel({ apiKey: 'wrong-key', model: MODEL, baseUrl: fake.url, timeoutMs: 5_000 });
  await assert.rejects(model.classify(supportEmail), { code: 'llm_unauthorized', retryable: false, status: 400 });
});

test('404 for an unknown model is a permanent llm_rejected', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiErrorResponse(404, 'NOT_FOUND', `models/${MODEL} is not found for API version v1beta`));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_rejected', retryable: false, status: 404 });
});

test('an answer slower than the timeout is a retryable llm_timeout', async () => {
  const { fake, model } = await fakeAndModel(300);
  fake.enqueue({ ...geminiTextResponse('{}'), delayMs: 3_000 });
  const startedAt = Date.now();
  await assert.rejects(model.classify(supportEmail), { code: 'llm_timeout', retryable: true });
  assert.ok(Date.now() - startedAt < 2_500, 'the call gave up at the timeout');
});

test("the caller's abort during a call is llm_aborted, not a timeout", async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue({ ...geminiTextResponse('{}'), delayMs: 3_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  await assert.rejects(model.classify(supportEmail, { signal: controller.signal }), { code: 'llm_aborted' });
});

test('malformed output gets one repair request showing the bad answer and the error; the good second answer is used', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiTextResponse('Sure! This looks like a support question.'));
  const result = await model.classify(supportEmail);
  assert.equal(fake.requests.length, 2);
  const repair = fake.requests[1].body as GenerateContentRequest;
  assert.deepEqual(
    repair.contents.map((content) => content.role),
    ['user', 'model', 'user'],
  );
  assert.equal(repair.contents[1].parts[0].text, 'Sure! This looks like a support question.');
  assert.match(repair.contents[2].parts[0].text, /could not be used: model answer holds no JSON object/);
  assert.match(repair.contents[0].parts[0].text, /<untrusted_email_[0-9a-f]{8}>/);
  assert.equal(result.value.is_support_inquiry, true);
  assert.ok(result.usage.output_tokens > 7, 'usage counts both attempts');
});

test('JSON with a field missing counts as malformed too', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiTextResponse('{"is_support_inquiry": true, "category": "technical"}'));
  const result = await model.classify(supportEmail);
  assert.equal(fake.requests.length, 2);
  assert.match((fake.requests[1].body as GenerateContentRequest).contents[2].parts[0].text, /confidence/);
  assert.equal(typeof result.value.confidence, 'number');
});

test('two malformed answers throw a retryable llm_malformed_output after exactly one repair', async () => {
  const { fake, model } = await fakeAndModel();
  fake.enqueue(geminiTextResponse('not json'));
  fake.enqueue(geminiTextResponse('still not json'));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_malformed_output', retryable: true });
  assert.equal(fake.requests.length, 2);
});

test('an empty reply, or one that is not the JSON asked for, gets one repair request', async () => {
  for (const bad of ['   ', '{"reply": "", "answerable": true, "confidence": 0.9, "cited": [1]}', 'Hello, hold the reset button [1].']) {
    const { fake, model } = await fakeAndModel();
    fake.enqueue(geminiTextResponse(bad));
    const result = await model.reply({ email: supportEmail, passages });
    assert.equal(fake.requests.length, 2, bad);
    assert.match((fake.requests[1].body as GenerateContentRequest).contents[2].parts[0].text, /reply \(string.*answerable \(boolean\)/);
    assert.ok(result.value.body.startsWith('Hello'));
  }
});

test('checkGemini: ok with a good key, not ok with the reason for a wrong key, an unreachable server or no key', async () => {
  const { fake } = await fakeAndModel();
  const good = await checkGemini({ apiKey: API_KEY, model: MODEL, baseUrl: fake.url, timeoutMs: 2_000 });
  assert.equal(good.ok, true, good.detail);
  assert.equal(fake.requests.at(-1)?.path, `/v1beta/models/${MODEL}`);
  const wrongKey = await checkGemini({ apiKey: 'wrong', model: MODEL, baseUrl: fake.url, timeoutMs: 2_000 });
  assert.equal(wrongKey.ok, false);
  assert.match(wrongKey.detail, /llm_unauthorized.*API key not valid/);
  const closed = await startFakeGemini();
  await closed.close();
  const unreachable = await checkGemini({ apiKey: API_KEY, model: MODEL, baseUrl: closed.url, timeoutMs: 2_000 });
  assert.equal(unreachable.ok, false);
  assert.match(unreachable.detail, /llm_unreachable/);
  const missing = await checkGemini({ apiKey: '', model: MODEL, timeoutMs: 2_000 });
  assert.deepEqual(missing, { ok: false, latencyMs: 0, detail: 'GEMINI_API_KEY is not set' });
});

test('an already aborted signal rejects with llm_aborted before any request', async () => {
  const { fake, model } = await fakeAndModel();
  const controller = new AbortController();
  controller.abort(new Error('shutting down'));
  await assert.rejects(model.classify(supportEmail, { signal: controller.signal }), { code: 'llm_aborted', message: /shutting down/ });
  assert.equal(fake.requests.length, 0);
});
