/**
 * A vector store whose query results are cached. A cached result is keyed by a hash of
 * (store, namespace, text, k) together with the namespace's current generation, a random token
 * replaced on every upsert or deletion in that namespace: results cached before a change are never
 * looked up again and simply expire. A generation that expired or was evicted is replaced by a
 * fresh one, which can only cause misses, never a stale hit.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Cache } from '../cache/spec.js';
import type { Chunk, ChunkBatches, ScoredChunk, VectorStore } from './spec.js';

/** Options of {@link createCachedVectorStore}. */
export interface CachedVectorStoreOptions {
  /**
   * How long after a change the store may still answer without it (Pinecone is eventually
   * consistent: a fresh upsert is searchable only after a few seconds). Results of queries within
   * this window are not cached, so a not-yet-visible chunk is not hidden for a whole TTL. Default 0.
   */
  freshnessLagMs?: number;
  /** The clock, in epoch milliseconds; tests inject one. Default `Date.now`. */
  now?: () => number;
}

/** The version of a namespace's contents, as stored in the cache. */
interface Generation {
  id: string;
  changed_at_ms: number;
}

const hashOf = (...parts: (string | number)[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40);

/**
 * Wraps `store` so that repeated queries within `ttlSeconds` are answered from `cache`. Closing
 * the wrapper closes `store`, not the cache, which other users may share.
 */
export function createCachedVectorStore(store: VectorStore, cache: Cache, ttlSeconds: number, options: CachedVectorStoreOptions = {}): VectorStore {
  const freshnessLagMs = options.freshnessLagMs ?? 0;
  const now = options.now ?? Date.now;
  const generationKey = (namespace: string) => `retrieval-generation:${hashOf(store.provider, store.name, namespace)}`;
  // Outlives the results it versions, so an idle namespace does not lose its results early.
  const generationTtlSeconds = ttlSeconds * 2;

  // A lost generation is renewed as if the namespace had just changed: the safe assumption.
  async function renewGeneration(namespace: string): Promise<Generation> {
    const generation = { id: randomUUID(), changed_at_ms: now() };
    await cache.set(generationKey(namespace), generation, generationTtlSeconds);
    return generation;
  }

  async function currentGeneration(namespace: string): Promise<Generation> {
    return (await cache.get<Generation>(generationKey(namespace))) ?? renewGeneration(namespace);
  }

  return {
    provider: store.provider,
    name: store.name,

    async upsert(namespace: string, chunks: Chunk[]): Promise<void> {
      try {
        await store.upsert(namespace, chunks);
      } finally {
        // Even a failed upsert may have written some chunks.
        await renewGeneration(namespace);
      }
    },

    async replaceDocument(namespace: string, documentId: string, batches: ChunkBatches): Promise<void> {
      try {
        await store.replaceDocument(namespace, documentId, batches);
      } finally {
        await renewGeneration(namespace);
      }
    },

    async deleteDocument(namespace: string, documentId: string): Promise<void> {
      try {
        await store.deleteDocument(namespace, documentId);
      } finally {
        await renewGeneration(namespace);
      }
    },

    async query(namespace: string, text: string, k: number): Promise<ScoredChunk[]> {
      // Read before querying: a change made during the query renews the generation, so its
      // possibly stale result lands under the old one and is never read.
      const generation = await currentGeneration(namespace);
      const key = `retrieval:${generation.id}:${hashOf(store.provider, store.name, namespace, text, k)}`;
      const cached = await cache.get<ScoredChunk[]>(key);
      if (cached) return cached;
      const result = await store.query(namespace, text, k);
      if (now() - generation.changed_at_ms >= freshnessLagMs) await cache.set(key, result, ttlSeconds);
      return result;
    },

    close: () => store.close(),
  };
}
