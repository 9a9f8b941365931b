/**
 * Pinecone specifics, through the official SDK against the loopback fake: batching, record ids
 * and metadata, deletion by listed ids, error mapping, and the provider check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Chunk } from '../../src/providers/vector-store/spec.js';
import { checkPinecone, createPineconeVectorStore } from '../../src/providers/vector-store/pinecone.js';
import { HashedBagOfWordsEmbedder, routerManual } from '../contracts/vector-store.js';
import { startFakePinecone, type FakePinecone } from '../fakes/pinecone-server.js';
import { rejection } from '../helpers/assertions.js';

const acme = 'support@acme.example';

async function withFake(
  context: { after: (callback: () => Promise<void>) => void },
  options: { apiKey?: string } = {},
): Promise<{ fake: FakePinecone; embedder: HashedBagOfWordsEmbedder; apiKey: string }> {
  const embedder = new HashedBagOfWordsEmbedder();
  const fake = await startFakePinecone({ dimension: embedder.dimensions, apiKey: options.apiKey });
  context.after(() => fake.close());
  return { fake, embedder, apiKey: options.apiKey ?? `key-${randomUUID()}` };
}

function manyChunks(documentId: string, count: number): Chunk[] {
  return Array.from({ length: count }, (_, index) => ({
    document_id: documentId,
    document_name: `${documentId}.pdf`,
    page: 1 + Math.floor(index / 10),
    chunk_index: index,
    text: `Section ${index} of the manual describes feature number ${index}.`,
  }));
}

test('250 chunks go up in 3 upsert requests of at most 100, with ids <document_id>#<chunk_index> and metadata', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', controllerHost: fake.url, embedder });
  await store.upsert(acme, manyChunks('manual', 250));

  const upserts = fake.requests.filter((request) => request.path === '/vectors/upsert');
  assert.deepEqual(
    upserts.map((request) => (request.body as { vectors: unknown[] }).vectors.length),
    [100, 100, 50],
  );
  assert.ok(
    upserts.every((request) => (request.body as { namespace: string }).namespace === acme),
    'namespace = agent_email',
  );
  assert.equal(upserts[0].headers['api-key'], apiKey);
  const stored = fake.namespace(acme);
  assert.equal(stored.size, 250);
  assert.deepEqual(stored.get('manual#42')?.metadata, {
    document_id: 'manual',
    document_name: 'manual.pdf',
    page: 5,
    chunk_index: 42,
    text: 'Section 42 of the manual describes feature number 42.',
  });
  assert.equal(stored.get('manual#42')?.values.length, embedder.dimensions);
});

test('section and document title go up as metadata and come back; several chunks of one page give one result', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', controllerHost: fake.url, embedder, similarityFloor: 0 });
  const text = 'Hold the reset button for ten seconds.';
  await store.upsert(acme, [
    { document_id: 'm', document_name: 'm.pdf', page: 4, chunk_index: 0, text, section: 'Reset', document_title: 'Router handbook' },
    { document_id: 'm', document_name: 'm.pdf', page: 4, chunk_index: 1, text: `${text} Then wait.` },
  ]);
  assert.equal(fake.namespace(acme).get('m#0')?.metadata?.section, 'Reset');
  const results = await store.query(acme, text, 2);
  assert.deepEqual(
    results.map(({ chunk_index, section, document_title }) => ({ chunk_index, section, document_title })),
    [{ chunk_index: 0, section: 'Reset', document_title: 'Router handbook' }],
  );
});

test('a query sends topK (3 matches per result wanted), includeMetadata and the namespace, and maps cosine similarity into [0, 1]', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', controllerHost: fake.url, embedder, similarityFloor: 0 });
  await store.upsert(acme, routerManual);
  const [best] = await store.query(acme, routerManual[1].text, 2);
  const query = fake.requests.find((request) => request.path === '/query');
  assert.deepEqual({ ...(query?.body as Record<string, unknown>), vector: undefined }, { namespace: acme, topK: 6, includeMetadata: true, vector: undefined });
  // The same text embeds to the same vector: cosine 1, the top of the scale.
  assert.equal(best.chunk_index, 1);
  assert.ok(Math.abs(best.score - 1) < 1e-9, `score ${best.score}`);
});

test('matches below the similarity floor score 0 and are dropped, as in the SQLite store', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', controllerHost: fake.url, embedder, similarityFloor: 0.5 });
  await store.upsert(acme, routerManual);
  assert.deepEqual(await store.query(acme, 'Quarterly sales figures for Belgian chocolate exporters', 4), []);
  const matches = fake.requests.filter((request) => request.path === '/query');
  assert.equal(matches.length, 1, 'Pinecone was asked, and its low-scoring matches were dropped');
});

test('deleteDocument lists ids by prefix across pages and deletes exactly that document', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', controllerHost: fake.url, embedder });
  await store.upsert(acme, [...manyChunks('doc', 150), ...manyChunks('doc#2', 3), ...manyChunks('other', 2)]);
  await store.upsert('support@globex.example', manyChunks('doc', 2));
  await store.deleteDocument(acme, 'doc');

  const lists = fake.requests.filter((request) => request.path === '/vectors/list');
  assert.equal(lists.length, 2, 'a second page is followed');
  assert.ok(lists.every((request) => request.query.prefix === 'doc#' && request.query.namespace === acme));
  assert.ok(lists[1].query.paginationToken, 'the second list carries the pagination token');
  const deletes = fake.requests.filter((request) => request.path === '/vectors/delete');
  assert.ok(
    deletes.every((request) => !(request.body as Record<string, unknown>).filter),
    'no metadata filter',
  );
  assert.deepEqual([...fake.namespace(acme).keys()].sort(), ['doc#2#0', 'doc#2#1', 'doc#2#2', 'other#0', 'other#1']);
  assert.equal(fake.namespace('support@globex.example').size, 2, 'another namespace is untouched');
});

test('429 becomes a retryable error, 500 too', async (context) => {
  const { fake, embedder, apiKey } = await withFake(context);
  const store = createPineconeVectorStore({ apiKey, index: 'ragmail', indexHost: fake.url, embedder });
  fake.enqueue({
    status: 429,
    path: '/query',
    headers: { 'retry-after': '1' },
    body: { code: 8, message: 'Request rate limit exceeded', details: [] },
  });
  const quota = await rejection(store.query(acme, 'reset password', 3));
  assert.equal(quota.retryable, true);
  assert.equal(quota.code, 'vector_store_quota');
  assert.match(quota.message, /429/);

  fake.enqueue({ status: 500, path: '/vectors/upsert', body: { code: 13, message: 'internal error', details: [] } });
  const server = await rejection(store.upsert(acme, routerManual));
  assert.equal(server.retryable, true);
  assert.equal(fake.requests.filter((request) => request.path === '/vectors/upsert').length, 1, 'the SDK does not retry by itself');
});

test('401 and 404 are permanent errors', async (context) => {
  const { fake, embedder } = await withFake(context, { apiKey: 'the-right-key' });
  const badKey = createPineconeVectorStore({ apiKey: 'a-wrong-key', index: 'ragmail', controllerHost: fake.url, embedder });
  const unauthorized = await rejection(badKey.upsert(acme, routerManual));
  assert.equal(unauthorized.retryable, false);
  assert.equal(unauthorized.code, 'vector_store_auth');

  const missing = createPineconeVectorStore({ apiKey: 'the-right-key', index: 'no-such-index', controllerHost: fake.url, embedder });
  const notFound = await rejection(missing.query(acme, 'reset password', 3));
  assert.equal(notFound.retryable, false);
  assert.match(notFound.message, /404/);
});

test('checkPinecone reports a good index, a rejected key and a dimension mismatch, never throwing', async (context) => {
  const { fake, embedder } = await withFake(context, { apiKey: 'the-right-key' });
  const good = await checkPinecone({ apiKey: 'the-right-key', index: 'ragmail', controllerHost: fake.url, embedder });
  assert.equal(good.ok, true, good.detail);
  assert.match(good.detail, /dimension 64, cosine/);
  assert.ok(good.latencyMs >= 0);

  const badKey = await checkPinecone({ apiKey: 'a-wrong-key', index: 'ragmail', controllerHost: fake.url });
  assert.equal(badKey.ok, false);
  assert.match(badKey.detail, /API key rejected/);

  const mismatch = await checkPinecone({
    apiKey: 'the-right-key',
    index: 'ragmail',
    controllerHost: fake.url,
    embedder: new HashedBagOfWordsEmbedder(8),
  });
  assert.equal(mismatch.ok, false);
  assert.match(mismatch.detail, /dimension 64 differs from the embedder's 8/);

  const unset = await checkPinecone({ apiKey: '', index: 'ragmail' });
  assert.deepEqual(unset, { ok: false, latencyMs: 0, detail: 'PINECONE_API_KEY is not set' });
});
