import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMemoryCache } from '../../src/providers/cache/memory.js';
import { createCachedVectorStore } from '../../src/providers/vector-store/cached.js';
import { createCachedEmbedder } from '../../src/providers/embeddings/cached.js';
import { createSqliteVectorStore } from '../../src/providers/vector-store/sqlite.js';
import type { Chunk, ChunkBatches, ScoredChunk, VectorStore } from '../../src/providers/vector-store/spec.js';
import type { Embedder } from '../../src/providers/embeddings/spec.js';
import { cacheContract } from '../contracts/cache.js';

cacheContract('memory', () => createMemoryCache({ maxEntries: 1000 }));

describe('memory cache', () => {
  test('evicts the least recently used entry once full; a read counts as a use', async () => {
    const cache = createMemoryCache({ maxEntries: 3 });
    await cache.set('a', 1, 60);
    await cache.set('b', 2, 60);
    await cache.set('c', 3, 60);
    assert.equal(await cache.get('a'), 1);
    await cache.set('d', 4, 60);
    assert.equal(await cache.get('b'), undefined, 'b was the least recently used');
    assert.deepEqual([await cache.get('a'), await cache.get('c'), await cache.get('d')], [1, 3, 4]);
    await cache.set('c', 30, 60);
    await cache.set('e', 5, 60);
    assert.equal(await cache.get('a'), undefined, 'a became the least recently used after c was rewritten');
    assert.deepEqual([await cache.get('c'), await cache.get('d'), await cache.get('e')], [30, 4, 5]);
  });

  test('expires entries by its clock', async () => {
    let now = 1_000_000;
    const cache = createMemoryCache({ now: () => now });
    await cache.set('key', 'value', 10);
    now += 9_999;
    assert.equal(await cache.get('key'), 'value');
    now += 1;
    assert.equal(await cache.get('key'), undefined);
  });

  test('refuses a size that is not a positive integer', () => {
    assert.throws(() => createMemoryCache({ maxEntries: 0 }), RangeError);
    assert.throws(() => createMemoryCache({ maxEntries: 2.5 }), RangeError);
  });
});

/** Counts the calls that reach the real store underneath the cache. */
class CountingStore implements VectorStore {
  readonly provider: string;
  readonly name: string;
  queries = 0;
  constructor(private readonly inner: VectorStore) {
    this.provider = inner.provider;
    this.name = inner.name;
  }
  upsert(namespace: string, chunks: Chunk[]): Promise<void> {
    return this.inner.upsert(namespace, chunks);
  }
  deleteDocument(namespace: string, documentId: string): Promise<void> {
    return this.inner.deleteDocument(namespace, documentId);
  }
  replaceDocument(namespace: string, documentId: string, batches: ChunkBatches): Promise<void> {
    return this.inner.replaceDocument(namespace, documentId, batches);
  }
  query(namespace: string, text: string, k: number): Promise<ScoredChunk[]> {
    this.queries += 1;
    return this.inner.query(namespace, text, k);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const chunk = (documentId: string, index: number, text: string): Chunk => ({
  document_id: documentId,
  document_name: `${documentId}.pdf`,
  page: index + 1,
  chunk_index: index,
  text,
});

describe('cached vector store', () => {
  test('answers a repeated query from the cache and queries the store again after a change', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
    const inner = new CountingStore(createSqliteVectorStore({ path: path.join(directory, 'vectors.sqlite') }));
    const store = createCachedVectorStore(inner, createMemoryCache(), 60);
    try {
      await store.upsert('support@acme.test', [chunk('router', 0, 'To reset the router password hold the reset button for 10 seconds.')]);
      await store.upsert('sales@acme.test', [chunk('prices', 0, 'The router costs 99 euros and ships in two days.')]);

      const first = await store.query('support@acme.test', 'reset router password', 3);
      const second = await store.query('support@acme.test', 'reset router password', 3);
      assert.equal(inner.queries, 1, 'the same query reaches the store once');
      assert.deepEqual(second, first);
      assert.equal(first.length, 1);

      await store.query('support@acme.test', 'reset router password', 5);
      await store.query('support@acme.test', 'router firmware', 3);
      await store.query('sales@acme.test', 'reset router password', 3);
      assert.equal(inner.queries, 4, 'another k, text or namespace is another query');

      await store.upsert('sales@acme.test', [chunk('prices', 1, 'A password reset is free of charge.')]);
      await store.query('support@acme.test', 'reset router password', 3);
      assert.equal(inner.queries, 4, 'a change in another namespace keeps this one cached');

      await store.upsert('support@acme.test', [chunk('router', 1, 'After a password reset the router restarts.')]);
      const afterUpsert = await store.query('support@acme.test', 'reset router password', 3);
      assert.equal(inner.queries, 5, 'an upsert in the namespace sends the query to the store again');
      assert.equal(afterUpsert.length, 2, 'and the new chunk is found');

      await store.deleteDocument('support@acme.test', 'router');
      assert.deepEqual(await store.query('support@acme.test', 'reset router password', 3), []);
      assert.equal(inner.queries, 6, 'a deletion in the namespace sends the query to the store again');
    } finally {
      await store.close();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  test('does not cache results while a recent change may not be searchable yet', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
    const inner = new CountingStore(createSqliteVectorStore({ path: path.join(directory, 'vectors.sqlite') }));
    let now = 1_000_000;
    const store = createCachedVectorStore(inner, createMemoryCache({ now: () => now }), 60, { freshnessLagMs: 5000, now: () => now });
    try {
      await store.upsert('support@acme.test', [chunk('router', 0, 'Hold the reset button for ten seconds.')]);
      now += 4000;
      await store.query('support@acme.test', 'reset button', 3);
      await store.query('support@acme.test', 'reset button', 3);
      assert.equal(inner.queries, 2, 'within the lag every query reaches the store');
      now += 1000;
      await store.query('support@acme.test', 'reset button', 3);
      await store.query('support@acme.test', 'reset button', 3);
      assert.equal(inner.queries, 3, 'after the lag the result is cached');
    } finally {
      await store.close();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
});

/** A deterministic embedder that counts the texts it is asked to embed. */
class CountingEmbedder implements Embedder {
  readonly provider = 'test';
  readonly dimensions = 4;
  texts: string[] = [];
  constructor(readonly model: string) {}
  async embed(texts: string[]): Promise<number[][]> {
    this.texts.push(...texts);
    return texts.map((text) => [text.length, this.model.length, text.charCodeAt(0) || 0, 1]);
  }
}

describe('cached embedder', () => {
  test('embeds a query text once per model, and lets ingestion batches through uncached', async () => {
    const cache = createMemoryCache();
    const small = new CountingEmbedder('small');
    const large = new CountingEmbedder('large-model');
    const cachedSmall = createCachedEmbedder(small, cache, 60);
    const cachedLarge = createCachedEmbedder(large, cache, 60);

    const first = await cachedSmall.embed(['reset router password']);
    assert.deepEqual(await cachedSmall.embed(['reset router password']), first);
    assert.deepEqual(small.texts, ['reset router password'], 'the second call was answered from the cache');
    assert.deepEqual([cachedSmall.provider, cachedSmall.model, cachedSmall.dimensions], ['test', 'small', 4]);

    const other = await cachedLarge.embed(['reset router password']);
    assert.deepEqual(large.texts, ['reset router password'], 'another model has its own entries');
    assert.notDeepEqual(other, first);

    await cachedSmall.embed(['chunk one', 'chunk two']);
    await cachedSmall.embed(['chunk one', 'chunk two']);
    assert.equal(small.texts.length, 5, 'batches are embedded every time');
    await cachedSmall.embed(['chunk one']);
    assert.equal(small.texts.length, 6, 'texts of a batch were not cached');
  });
});
