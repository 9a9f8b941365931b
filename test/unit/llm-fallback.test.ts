import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/lib/log.js';
import { createAnthropicModel } from '../../src/providers/llm/anthropic.js';
import { createFallbackModel } from '../../src/providers/llm/fallback.js';
import { createGeminiModel } from '../../src/providers/llm/gemini.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import { passages, supportEmail } from '../contracts/language-model.js';
import { anthropicErrorResponse, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { geminiErrorResponse, geminiTextResponse, startFakeGemini, type FakeServer } from '../fakes/gemini-server.js';

const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));
const logger = createLogger({ level: 'error', format: 'json', role: 'test' });

/** The default chain, gemini → anthropic → local, each remote one behind its own fake. */
async function defaultChain(timeoutMs = 5_000) {
  const gemini = await startFakeGemini({ apiKey: 'gemini-key' });
  const anthropic = await startFakeAnthropic({ apiKey: 'anthropic-key' });
  servers.push(gemini, anthropic);
  const chain = createFallbackModel(
    [
      createGeminiModel({ apiKey: 'gemini-key', model: 'gemini-2.5-flash', baseUrl: gemini.url, timeoutMs }),
      createAnthropicModel({ apiKey: 'anthropic-key', model: 'claude-sonnet-4-6', baseUrl: anthropic.url, timeoutMs }),
      createLocalModel(),
    ],
    logger,
  );
  return { gemini, anthropic, chain };
}

test('with every provider healthy, Gemini answers and Claude is not called', async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  const result = await chain.classify(supportEmail);
  assert.equal(result.provider, 'gemini');
  assert.equal(result.model, 'gemini-2.5-flash');
  assert.equal(gemini.requests.length, 1);
  assert.equal(anthropic.requests.length, 0);
});

test('Gemini 429 → Claude answers, after one Gemini request', async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  gemini.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', { retryDelay: '30s' }));
  const result = await chain.reply({ email: supportEmail, passages });
  assert.equal(result.provider, 'anthropic');
  assert.equal(result.model, 'claude-sonnet-4-6');
  assert.match(result.value.body, /"router-manual.pdf", page \d/);
  assert.equal(gemini.requests.length, 1);
  assert.equal(anthropic.requests.length, 1);
  assert.match(JSON.stringify(anthropic.requests[0].body), /<untrusted_email_[0-9a-f]{8}>/);
});

test('Gemini 429 and Claude 500 → the local model answers', async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  gemini.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded'));
  anthropic.enqueue(anthropicErrorResponse(500, 'api_error', 'Internal server error'));
  const result = await chain.classify(supportEmail);
  assert.equal(result.provider, 'local');
  assert.equal(result.value.is_support_inquiry, true);
  assert.equal(gemini.requests.length, 1);
  assert.equal(anthropic.requests.length, 1);
});

test('Gemini 401 surfaces at once as a permanent error: Claude is not called', async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  gemini.enqueue(geminiErrorResponse(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
  await assert.rejects(chain.classify(supportEmail), { code: 'llm_unauthorized', retryable: false });
  assert.equal(gemini.requests.length, 1);
  assert.equal(anthropic.requests.length, 0);
});

test('a Gemini timeout → Claude answers', async () => {
  const { gemini, anthropic, chain } = await defaultChain(300);
  gemini.enqueue({ ...geminiTextResponse('{}'), delayMs: 3_000 });
  const result = await chain.classify(supportEmail);
  assert.equal(result.provider, 'anthropic');
  assert.equal(anthropic.requests.length, 1);
});

test('two malformed Gemini answers (one repair) → Claude answers', async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  gemini.enqueue(geminiTextResponse('This is a support email.'));
  gemini.enqueue(geminiTextResponse('Yes, support.'));
  const result = await chain.classify(supportEmail);
  assert.equal(result.provider, 'anthropic');
  assert.equal(gemini.requests.length, 2, 'one request and one repair');
  assert.equal(anthropic.requests.length, 1);
  assert.equal(result.value.is_support_inquiry, true);
});

test("the caller's abort ends the chain: no other provider is tried", async () => {
  const { gemini, anthropic, chain } = await defaultChain();
  gemini.enqueue({ ...geminiTextResponse('{}'), delayMs: 3_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  await assert.rejects(chain.classify(supportEmail, { signal: controller.signal }), { code: 'llm_aborted' });
  assert.equal(gemini.requests.length, 1);
  assert.equal(anthropic.requests.length, 0);
});

test("a provider's retry-after is honoured: it is not called again before the pause ends, the next one answers meanwhile", async () => {
  const gemini = await startFakeGemini({ apiKey: 'gemini-key' });
  const anthropic = await startFakeAnthropic({ apiKey: 'anthropic-key' });
  servers.push(gemini, anthropic);
  let clock = 1_000_000;
  const chain = createFallbackModel(
    [
      createGeminiModel({ apiKey: 'gemini-key', model: 'gemini-2.5-flash', baseUrl: gemini.url, timeoutMs: 5_000 }),
      createAnthropicModel({ apiKey: 'anthropic-key', model: 'claude-sonnet-4-6', baseUrl: anthropic.url, timeoutMs: 5_000 }),
    ],
    logger,
    () => clock,
  );
  gemini.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', { retryDelay: '30s' }));
  assert.equal((await chain.classify(supportEmail)).provider, 'anthropic');
  clock += 29_000;
  assert.equal((await chain.classify(supportEmail)).provider, 'anthropic');
  assert.equal(gemini.requests.length, 1, 'Gemini rests for the 30 s it asked for');
  clock += 1_001;
  assert.equal((await chain.classify(supportEmail)).provider, 'gemini', 'after the pause Gemini is first again');
  assert.equal(gemini.requests.length, 2);

  // Both resting or failing: the chain's error is retryable and carries the shortest pause left.
  gemini.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', { retryDelay: '20s' }));
  anthropic.enqueue(anthropicErrorResponse(429, 'rate_limit_error', 'Rate limited', { retryAfter: '5' }));
  await assert.rejects(chain.classify(supportEmail), { code: 'llm_unavailable', retryable: true, retryAfterMs: 5_000 });
  clock += 2_000;
  const requestsBefore = gemini.requests.length + anthropic.requests.length;
  await assert.rejects(chain.classify(supportEmail), (error: { code: string; retryAfterMs: number; message: string }) => {
    assert.equal(error.code, 'llm_unavailable');
    assert.equal(error.retryAfterMs, 3_000);
    assert.match(error.message, /gemini: resting 18 s more.*anthropic: resting 3 s more/);
    return true;
  });
  assert.equal(gemini.requests.length + anthropic.requests.length, requestsBefore, 'no request to a resting provider');
});

test('a chain error asks for no pause when one provider failed without asking for one (it may answer at the next try)', async () => {
  const gemini = await startFakeGemini({ apiKey: 'gemini-key' });
  const anthropic = await startFakeAnthropic({ apiKey: 'anthropic-key' });
  servers.push(gemini, anthropic);
  const chain = createFallbackModel(
    [
      createGeminiModel({ apiKey: 'gemini-key', model: 'gemini-2.5-flash', baseUrl: gemini.url, timeoutMs: 5_000 }),
      createAnthropicModel({ apiKey: 'anthropic-key', model: 'claude-sonnet-4-6', baseUrl: anthropic.url, timeoutMs: 5_000 }),
    ],
    logger,
  );
  gemini.enqueue(geminiErrorResponse(500, 'INTERNAL', 'Internal error'));
  anthropic.enqueue(anthropicErrorResponse(429, 'rate_limit_error', 'Rate limited', { retryAfter: '600' }));
  await assert.rejects(chain.classify(supportEmail), (error: { code: string; retryAfterMs?: number }) => {
    assert.equal(error.code, 'llm_unavailable');
    assert.equal(error.retryAfterMs, undefined, 'not the 600 s Claude asked for: Gemini may be back in a second');
    return true;
  });
});
