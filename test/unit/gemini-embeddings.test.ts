import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createGeminiEmbedder } from '../../src/providers/embeddings/gemini.js';
import { bagOfWordsVector, geminiErrorResponse, startFakeGemini, type FakeServer } from '../fakes/gemini-server.js';

const API_KEY = 'test-gemini-key';
const MODEL = 'gemini-embedding-001';
const servers: FakeServer[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

async function fakeAndEmbedder(dimensions = 768) {
  const fake = await startFakeGemini({ apiKey: API_KEY });
  servers.push(fake);
  return { fake, embedder: createGeminiEmbedder({ apiKey: API_KEY, model: MODEL, dimensions, baseUrl: fake.url, timeoutMs: 5_000 }) };
}

interface BatchEmbedRequest {
  requests: Array<{ model: string; content: { parts: Array<{ text: string }> }; outputDimensionality: number }>;
}

test('250 texts go out as 3 batchEmbedContents requests (100, 100, 50) and come back in order, one vector each', async () => {
  const { fake, embedder } = await fakeAndEmbedder(64);
  const texts = Array.from({ length: 250 }, (_, index) => `passage number ${index} about router firmware ${index % 7}`);
  const vectors = await embedder.embed(texts);
  assert.equal(fake.requests.length, 3);
  assert.deepEqual(
    fake.requests.map((request) => request.path),
    Array(3).fill(`/v1beta/models/${MODEL}:batchEmbedContents`),
  );
  const batches = fake.requests.map((request) => (request.body as BatchEmbedRequest).requests);
  assert.deepEqual(
    batches.map((batch) => batch.length),
    [100, 100, 50],
  );
  assert.ok(
    batches.flat().every((request) => request.outputDimensionality === 64),
    'outputDimensionality is the configured size',
  );
  assert.equal(batches[2][49].content.parts[0].text, texts[249]);
  assert.equal(vectors.length, 250);
  for (const [index, vector] of vectors.entries()) {
    assert.equal(vector.length, 64);
    assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-9, 'unit length');
    const expected = bagOfWordsVector(texts[index], 64);
    assert.ok(
      vector.every((value, position) => Math.abs(value - expected[position]) < 1e-9),
      `vector ${index} belongs to text ${index}`,
    );
  }
});

test('the embedder names its provider, model and dimensions, and sends nothing for no texts', async () => {
  const { fake, embedder } = await fakeAndEmbedder(768);
  assert.deepEqual([embedder.provider, embedder.model, embedder.dimensions], ['gemini', MODEL, 768]);
  assert.deepEqual(await embedder.embed([]), []);
  assert.equal(fake.requests.length, 0);
});

test('vectors of another length than configured are a permanent embedding_dimension_mismatch', async () => {
  const { fake, embedder } = await fakeAndEmbedder(768);
  fake.enqueue({ status: 200, body: { embeddings: [{ values: [0.6, 0.8, 0] }] } });
  await assert.rejects(embedder.embed(['one text']), { code: 'embedding_dimension_mismatch', retryable: false });
});

test('a 429 with RetryInfo is a retryable embedding_quota carrying the delay', async () => {
  const { fake, embedder } = await fakeAndEmbedder();
  fake.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for metric embed_content_requests', { retryDelay: '12s' }));
  await assert.rejects(embedder.embed(['a', 'b']), { code: 'embedding_quota', retryable: true, retryAfterMs: 12_000 });
  assert.equal(fake.requests.length, 1, 'the SDK does not retry on its own');
});

test('a 503 is a retryable embedding_server_error; a failed second batch fails the whole call', async () => {
  const { fake, embedder } = await fakeAndEmbedder(16);
  fake.enqueue({ status: 200, body: { embeddings: Array.from({ length: 100 }, () => ({ values: bagOfWordsVector('x', 16) })) } });
  fake.enqueue(geminiErrorResponse(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
  const texts = Array.from({ length: 150 }, (_, index) => `text ${index}`);
  await assert.rejects(embedder.embed(texts), { code: 'embedding_server_error', retryable: true, status: 503 });
  assert.equal(fake.requests.length, 2);
});

test('a wrong key is a permanent embedding_unauthorized naming the status', async () => {
  const { fake } = await fakeAndEmbedder();
  const embedder = createGeminiEmbedder({ apiKey: 'wrong', model: MODEL, dimensions: 768, baseUrl: fake.url, timeoutMs: 5_000 });
  await assert.rejects(embedder.embed(['text']), (error: Error & { code: string; retryable: boolean }) => {
    assert.equal(error.code, 'embedding_unauthorized');
    assert.equal(error.retryable, false);
    assert.match(error.message, /gemini refused the credentials \(HTTP 400 INVALID_ARGUMENT\): API key not valid/);
    return true;
  });
});

test('an answer slower than the timeout is a retryable embedding_timeout', async () => {
  const fake = await startFakeGemini();
  servers.push(fake);
  const embedder = createGeminiEmbedder({ apiKey: API_KEY, model: MODEL, dimensions: 8, baseUrl: fake.url, timeoutMs: 300 });
  fake.enqueue({ status: 200, body: { embeddings: [{ values: bagOfWordsVector('late', 8) }] }, delayMs: 3_000 });
  await assert.rejects(embedder.embed(['late']), { code: 'embedding_timeout', retryable: true });
});

test('an already aborted signal rejects with embedding_aborted before any request', async () => {
  const { fake, embedder } = await fakeAndEmbedder();
  const controller = new AbortController();
  controller.abort(new Error('shutting down'));
  await assert.rejects(embedder.embed(['text'], { signal: controller.signal }), { code: 'embedding_aborted', retryable: true });
  assert.equal(fake.requests.length, 0);
});
