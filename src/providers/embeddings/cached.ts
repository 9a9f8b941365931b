/**
 * An embedder whose query embeddings are cached per (provider, model, dimensions, text hash):
 * the same question asked again within the TTL costs no embedding call. Calls with more texts than
 * `maxTextsToCache` (ingestion batches) pass straight through, so chunk vectors that are computed
 * once and stored in the vector store do not crowd the query embeddings out of the cache.
 */
import { createHash } from 'node:crypto';
import type { Cache } from '../cache/spec.js';
import type { EmbedOptions, Embedder } from './spec.js';

/** Options of {@link createCachedEmbedder}. */
export interface CachedEmbedderOptions {
  /** Calls with more texts than this are not cached. Default 1 (queries are embedded one at a time). */
  maxTextsToCache?: number;
}

/** Wraps `embedder` so that query embeddings are answered from `cache` for `ttlSeconds`. */
export function createCachedEmbedder(embedder: Embedder, cache: Cache, ttlSeconds: number, options: CachedEmbedderOptions = {}): Embedder {
  const maxTextsToCache = options.maxTextsToCache ?? 1;
  // Vectors of different models or sizes are not interchangeable.
  const modelHash = hashOf(JSON.stringify([embedder.provider, embedder.model, embedder.dimensions])).slice(0, 16);
  const keyOf = (text: string) => `embedding:${modelHash}:${hashOf(text)}`;

  return {
    provider: embedder.provider,
    model: embedder.model,
    dimensions: embedder.dimensions,

    async embed(texts: string[], embedOptions?: EmbedOptions): Promise<number[][]> {
      if (texts.length === 0 || texts.length > maxTextsToCache) return embedder.embed(texts, embedOptions);
      const keys = texts.map(keyOf);
      const cached = await Promise.all(keys.map((key) => cache.get<number[]>(key)));
      const missing = texts.flatMap((text, index) => (isVector(cached[index], embedder.dimensions) ? [] : [index]));
      if (missing.length === 0) return cached as number[][];
      const fresh = await embedder.embed(
        missing.map((index) => texts[index]),
        embedOptions,
      );
      const vectors = [...cached] as (number[] | undefined)[];
      await Promise.all(
        missing.map(async (textIndex, freshIndex) => {
          vectors[textIndex] = fresh[freshIndex];
          // A malformed answer is the caller's to reject, never the cache's to keep.
          if (isVector(fresh[freshIndex], embedder.dimensions)) await cache.set(keys[textIndex], fresh[freshIndex], ttlSeconds);
        }),
      );
      return vectors as number[][];
    },
  };
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 40);

function isVector(value: unknown, dimensions: number): value is number[] {
  return Array.isArray(value) && value.length === dimensions;
}
