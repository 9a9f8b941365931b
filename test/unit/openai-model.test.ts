import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/lib/log.js';
import { loadConfig } from '../../src/app/config.js';
import { createLanguageModel, createUncachedEmbedder } from '../../src/app/providers.js';
import { createOpenAIEmbedder } from '../../src/providers/embeddings/openai.js';
import { ProviderCallError } from '../../src/providers/llm/errors.js';
import { createFallbackModel } from '../../src/providers/llm/fallback.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import { checkOpenAI, createOpenAIModel, openaiDialect, type OpenAISettings } from '../../src/providers/llm/openai.js';
import { languageModelContract, passages, supportEmail } from '../contracts/language-model.js';
import { openaiErrorResponse, openaiTextResponse, startFakeOpenAI, type FakeOpenAIOptions, type FakeServer } from '../fakes/openai-server.js';

const API_KEY = 'sk-test-openai-key';
const MODEL = 'gpt-4.1-mini';
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));
const logger = createLogger({ level: 'error', format: 'json', role: 'test' });

async function fake(options: FakeOpenAIOptions = { apiKey: API_KEY }) {
  const server = await startFakeOpenAI(options);
  servers.push(server);
  return server;
}

function settingsFor(server: FakeServer, overrides: Partial<OpenAISettings> = {}): OpenAISettings {
  return { apiKey: API_KEY, model: MODEL, baseUrl: `${server.url}/v1`, responseFormat: 'json_schema', dialect: 'compatible', timeoutMs: 5_000, ...overrides };
}

async function fakeAndModel(overrides: Partial<OpenAISettings> = {}, options?: FakeOpenAIOptions) {
  const server = await fake(options);
  return { server, model: createOpenAIModel(settingsFor(server, overrides)) };
}

interface CompletionRequest {
  model: string;
  messages: Array<{ role: string; content: string }>;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  response_format?: { type: string; json_schema?: { name: string; strict: boolean; schema: { required: string[]; additionalProperties: boolean } } };
}

languageModelContract('openai-compatible (loopback fake, structured output)', async () => (await fakeAndModel()).model);
languageModelContract(
  'openai-compatible (loopback fake, no key, prompt-only JSON)',
  async () => (await fakeAndModel({ apiKey: '', responseFormat: 'text' }, {})).model,
);
languageModelContract('fallback chain (openai answering 503, then local)', async () => {
  const server = await fake();
  // Every call to the first link fails as a server outage: the chain must still keep the contract.
  for (let index = 0; index < 50; index += 1) server.enqueue(openaiErrorResponse(503, 'server_error', 'The server is overloaded'));
  return createFallbackModel([createOpenAIModel(settingsFor(server)), createLocalModel()], logger);
});

test('a compatible server gets a system turn, the fenced email, a strict JSON schema, max_tokens and temperature 0', async () => {
  const { server, model } = await fakeAndModel();
  const result = await model.classify(supportEmail);
  const [request] = server.requests;
  assert.equal(request.path, '/v1/chat/completions');
  assert.equal(request.headers.authorization, `Bearer ${API_KEY}`);
  const body = request.body as CompletionRequest;
  assert.equal(body.model, MODEL);
  assert.deepEqual(
    body.messages.map((message) => message.role),
    ['system', 'user'],
  );
  assert.match(body.messages[0].content, /JSON object/);
  assert.doesNotMatch(body.messages[0].content, /Dana/, 'the email stays out of the system prompt');
  assert.match(body.messages[1].content, /<(untrusted_email_[0-9a-f]{8})>[\s\S]*reset my router password[\s\S]*<\/\1>/);
  assert.equal(body.response_format?.type, 'json_schema');
  assert.equal(body.response_format?.json_schema?.strict, true);
  assert.deepEqual(body.response_format?.json_schema?.schema.required, ['is_support_inquiry', 'category', 'confidence', 'reasoning']);
  assert.equal(body.response_format?.json_schema?.schema.additionalProperties, false);
  assert.equal(body.max_tokens, 512);
  assert.equal(body.max_completion_tokens, undefined);
  assert.equal(body.temperature, 0);
  assert.equal(result.provider, 'openai');
  assert.equal(result.value.is_support_inquiry, true);
  assert.ok(result.usage.input_tokens > 20 && result.usage.output_tokens > 0, JSON.stringify(result.usage));

  await model.reply({ email: supportEmail, passages });
  const reply = server.requests[1].body as CompletionRequest;
  assert.deepEqual(reply.response_format?.json_schema?.schema.required, ['reply', 'answerable', 'confidence', 'cited']);
  assert.equal(reply.max_tokens, 2000);
});

test("OpenAI's own dialect: max_completion_tokens and no temperature (a server refusing max_tokens accepts it)", async () => {
  const { server, model } = await fakeAndModel({ dialect: 'openai' }, { apiKey: API_KEY, dialect: 'openai' });
  const result = await model.reply({ email: supportEmail, passages });
  assert.match(result.value.body, /"router-manual\.pdf", page 3/);
  const body = server.requests[0].body as CompletionRequest;
  assert.equal(body.max_completion_tokens, 8000, 'the reply budget and room for a reasoning model to think');
  assert.equal(body.max_tokens, undefined);
  assert.equal(body.temperature, undefined);
  // The other dialect against the same server is refused permanently, naming the parameter.
  const wrong = createOpenAIModel(settingsFor(server, { dialect: 'compatible' }));
  await assert.rejects(wrong.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_rejected');
    assert.equal(error.retryable, false);
    assert.match(error.message, /HTTP 400 unsupported_parameter.*max_tokens/);
    return true;
  });
});

test('openaiDialect: no URL or api.openai.com is OpenAI; Ollama, vLLM and others are compatible', () => {
  assert.equal(openaiDialect(undefined), 'openai');
  assert.equal(openaiDialect('https://api.openai.com/v1'), 'openai');
  assert.equal(openaiDialect('http://127.0.0.1:11434/v1'), 'compatible');
  assert.equal(openaiDialect('https://api.groq.com/openai/v1'), 'compatible');
});

test('JSON mode sends response_format json_object, and the prompt names JSON as such servers require', async () => {
  const { server, model } = await fakeAndModel({ responseFormat: 'json_object' });
  const result = await model.classify(supportEmail);
  assert.equal((server.requests[0].body as CompletionRequest).response_format?.type, 'json_object');
  assert.equal(result.value.is_support_inquiry, true);
});

test('prompt-only mode sends no response_format; an empty key is sent as a placeholder a local server ignores', async () => {
  const { server, model } = await fakeAndModel({ apiKey: '', responseFormat: 'text' }, {});
  await model.classify(supportEmail);
  const body = server.requests[0].body as CompletionRequest;
  assert.equal(body.response_format, undefined);
  assert.equal(server.requests[0].headers.authorization, 'Bearer none');
});

test('429 with retry-after-ms / retry-after is a retryable llm_quota carrying the delay, not retried by the SDK', async () => {
  const { server, model } = await fakeAndModel();
  server.enqueue(
    openaiErrorResponse(429, 'requests', 'Rate limit reached for gpt-4.1-mini on requests per min (RPM): Limit 3.', {
      code: 'rate_limit_exceeded',
      retryAfterMs: '1500',
    }),
  );
  const error = await model.classify(supportEmail).then(
    () => assert.fail('should reject'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ProviderCallError, String(error));
  assert.equal(error.code, 'llm_quota');
  assert.equal(error.retryable, true);
  assert.equal(error.retryAfterMs, 1_500);
  assert.match(error.message, /openai .*HTTP 429 rate_limit_exceeded.*Rate limit reached.*retry after 1.5s/);
  assert.equal(server.requests.length, 1, 'maxRetries is 0');

  server.enqueue(openaiErrorResponse(429, 'insufficient_quota', 'You exceeded your current quota', { code: 'insufficient_quota', retryAfter: '20' }));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_quota', retryAfterMs: 20_000 });
});

test('500 and 503 are retryable llm_server_error; 400 is a permanent llm_rejected', async () => {
  const { server, model } = await fakeAndModel();
  server.enqueue(openaiErrorResponse(500, 'server_error', 'The server had an error while processing your request.'));
  await assert.rejects(model.reply({ email: supportEmail, passages }), { code: 'llm_server_error', retryable: true, status: 500 });
  server.enqueue(openaiErrorResponse(503, 'server_error', 'The engine is currently overloaded'));
  await assert.rejects(model.reply({ email: supportEmail, passages }), { code: 'llm_server_error', retryable: true, status: 503 });
  server.enqueue(
    openaiErrorResponse(400, 'invalid_request_error', "This model's maximum context length is 128000 tokens.", { code: 'context_length_exceeded' }),
  );
  await assert.rejects(model.classify(supportEmail), { code: 'llm_rejected', retryable: false, status: 400 });
  assert.equal(server.requests.length, 3);
});

test('a wrong key (401 invalid_api_key) is a permanent llm_unauthorized', async () => {
  const server = await fake();
  const model = createOpenAIModel(settingsFor(server, { apiKey: 'sk-wrong' }));
  await assert.rejects(model.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_unauthorized');
    assert.equal(error.retryable, false);
    assert.match(error.message, /HTTP 401 invalid_api_key.*Incorrect API key/);
    return true;
  });
});

test("an answer slower than the timeout is a retryable llm_timeout; the caller's abort is llm_aborted", async () => {
  const { server, model } = await fakeAndModel({ timeoutMs: 300 });
  server.enqueue(openaiTextResponse('{}', { delayMs: 3_000 }));
  const startedAt = Date.now();
  await assert.rejects(model.classify(supportEmail), { code: 'llm_timeout', retryable: true });
  assert.ok(Date.now() - startedAt < 2_500, 'the call gave up at the timeout');
  assert.equal(server.requests.length, 1, 'a timeout is not retried by the SDK');

  const patient = createOpenAIModel(settingsFor(server));
  server.enqueue(openaiTextResponse('{}', { delayMs: 3_000 }));
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  await assert.rejects(patient.classify(supportEmail, { signal: controller.signal }), { code: 'llm_aborted' });
});

test('an unreachable server is a retryable llm_unreachable', async () => {
  const closed = await startFakeOpenAI();
  await closed.close();
  const model = createOpenAIModel(settingsFor(closed));
  await assert.rejects(model.classify(supportEmail), { code: 'llm_unreachable', retryable: true });
});

test('malformed output gets one repair turn showing the bad answer; a second one is llm_malformed_output', async () => {
  const { server, model } = await fakeAndModel();
  server.enqueue(openaiTextResponse('Sure! This looks like a support request.'));
  const repaired = await model.classify(supportEmail);
  assert.equal(repaired.value.is_support_inquiry, true);
  const repair = server.requests[1].body as CompletionRequest;
  assert.deepEqual(
    repair.messages.map((message) => message.role),
    ['system', 'user', 'assistant', 'user'],
  );
  assert.equal(repair.messages[2].content, 'Sure! This looks like a support request.');
  assert.match(repair.messages[3].content, /could not be used: model answer holds no JSON object/);

  server.enqueue(openaiTextResponse('{"category": "nonsense"}'));
  server.enqueue(openaiTextResponse('', { refusal: "I'm sorry, I can't help with that.", finishReason: 'stop' }));
  await assert.rejects(model.classify(supportEmail), (error: ProviderCallError) => {
    assert.equal(error.code, 'llm_malformed_output');
    assert.match(error.message, /can't help with that|no JSON object/);
    return true;
  });
});

test('a reply cut at the output budget (finish_reason length) says so in the repair request', async () => {
  const { server, model } = await fakeAndModel();
  server.enqueue(openaiTextResponse('{"reply": "To reset the router, hold', { finishReason: 'length' }));
  const result = await model.reply({ email: supportEmail, passages });
  assert.ok(result.value.body.length > 0);
  assert.match((server.requests[1].body as CompletionRequest).messages[3].content, /finish reason length/);
});

test('checkOpenAI: ok with a good key, not ok with the reason for a wrong key, a missing model, an unreachable server or no key', async () => {
  const server = await fake();
  const good = await checkOpenAI(settingsFor(server));
  assert.equal(good.ok, true, good.detail);
  assert.equal(server.requests.at(-1)?.path, `/v1/models/${MODEL}`);
  const wrongKey = await checkOpenAI(settingsFor(server, { apiKey: 'sk-wrong' }));
  assert.equal(wrongKey.ok, false);
  assert.match(wrongKey.detail, /llm_unauthorized.*401/);
  const missing = await checkOpenAI(settingsFor(server, { model: 'missing-model' }));
  assert.equal(missing.ok, false);
  assert.match(missing.detail, /llm_rejected.*404 model_not_found/);
  const closed = await startFakeOpenAI();
  await closed.close();
  const unreachable = await checkOpenAI(settingsFor(closed));
  assert.match(unreachable.detail, /llm_unreachable/);
  const noKey = await checkOpenAI({ apiKey: '', model: MODEL, timeoutMs: 1_000 });
  assert.equal(noKey.ok, false);
  assert.match(noKey.detail, /OPENAI_API_KEY is not set/);
});

test('embeddings: batches of 64, vectors back in input order by index, unit length; dimensions asked for only in OpenAI dialect', async () => {
  const server = await fake({ apiKey: API_KEY, embeddingDimensions: 384 });
  const local = createOpenAIEmbedder({
    apiKey: API_KEY,
    model: 'nomic-embed-text',
    dimensions: 384,
    baseUrl: `${server.url}/v1`,
    dialect: 'compatible',
    timeoutMs: 5_000,
  });
  const texts = Array.from({ length: 70 }, (_value, index) => (index === 0 ? 'reset the router password' : `text number ${index} about firmware`));
  const vectors = await local.embed(texts);
  assert.equal(vectors.length, 70);
  assert.equal(server.requests.length, 2, '64 + 6');
  assert.equal((server.requests[0].body as { dimensions?: number }).dimensions, undefined);
  for (const vector of vectors) assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-9);
  // The fake answers in reverse order: the first vector must still be the first text's.
  const [again] = await local.embed(['reset the router password']);
  assert.deepEqual(vectors[0], again);

  const official = createOpenAIEmbedder({
    apiKey: API_KEY,
    model: 'text-embedding-3-small',
    dimensions: 256,
    baseUrl: `${server.url}/v1`,
    dialect: 'openai',
    timeoutMs: 5_000,
  });
  const [sized] = await official.embed(['hello']);
  assert.equal(sized.length, 256);
  assert.equal((server.requests.at(-1)!.body as { dimensions?: number }).dimensions, 256);

  const wrongSize = createOpenAIEmbedder({
    apiKey: API_KEY,
    model: 'nomic-embed-text',
    dimensions: 768,
    baseUrl: `${server.url}/v1`,
    dialect: 'compatible',
    timeoutMs: 5_000,
  });
  await assert.rejects(wrongSize.embed(['hello']), { code: 'embedding_dimension_mismatch', retryable: false });
  server.enqueue(openaiErrorResponse(429, 'requests', 'Rate limit reached', { retryAfter: '2' }));
  await assert.rejects(local.embed(['hello']), { code: 'embedding_quota', retryable: true, retryAfterMs: 2_000 });
});

test('by configuration alone: LLM_PROVIDERS=openai with OPENAI_BASE_URL and no key, EMBEDDING_PROVIDER=openai', async () => {
  const server = await fake({ embeddingDimensions: 768 });
  const config = loadConfig({
    LLM_PROVIDERS: 'openai,local',
    OPENAI_BASE_URL: `${server.url}/v1`,
    OPENAI_MODEL: 'qwen3:8b',
    EMBEDDING_PROVIDER: 'openai',
    OPENAI_EMBEDDING_MODEL: 'nomic-embed-text',
  });
  assert.equal(config.SEND_POLICY, 'auto', 'a remote model first in the chain: auto-send by default, like gemini and anthropic');
  const model = createLanguageModel(config, logger);
  const result = await model.classify(supportEmail);
  assert.equal(result.provider, 'openai');
  assert.equal(result.model, 'qwen3:8b');
  const embedder = createUncachedEmbedder(config, 'openai');
  const [vector] = await embedder.embed(['router']);
  assert.equal(vector.length, 768);
  assert.equal((server.requests.at(-1)!.body as { model: string }).model, 'nomic-embed-text');

  // OpenAI itself without a key is a configuration error naming the variable.
  assert.throws(() => createLanguageModel(loadConfig({ LLM_PROVIDERS: 'openai' }), logger), /OPENAI_API_KEY/);
  assert.throws(() => loadConfig({ LLM_PROVIDERS: 'openai,chatgpt' }), /local, gemini, anthropic, openai/);
});
