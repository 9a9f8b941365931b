/**
 * Gemini embeddings through `@google/genai` (`models.embedContent`, which the Gemini API serves
 * as `:batchEmbedContents`). Texts go in batches of at most 100, the API's limit per request.
 */
import { permanentError } from '../../lib/errors.js';
import { abortedError } from '../llm/errors.js';
import { createGeminiClient, toGeminiError } from '../llm/gemini.js';
import type { EmbedOptions, Embedder } from './spec.js';
import { unitLength } from './unit-length.js';

/** Most texts the Gemini API embeds in one request. */
export const GEMINI_EMBEDDING_BATCH_SIZE = 100;

/** Settings of {@link createGeminiEmbedder} (GEMINI_API_KEY, GEMINI_EMBEDDING_MODEL, EMBEDDING_DIMENSIONS, GEMINI_BASE_URL, LLM_TIMEOUT_MS). */
export interface GeminiEmbedderSettings {
  apiKey: string;
  /** Embedding model, e.g. `gemini-embedding-001`. */
  model: string;
  /** Length of every vector (`outputDimensionality`), e.g. 768. */
  dimensions: number;
  /** API root without the version, e.g. a loopback fake; default Google's endpoint. */
  baseUrl?: string;
  /** Time allowed for one HTTP request, in ms. */
  timeoutMs: number;
}

/**
 * Creates the Gemini embedder (provider `gemini`). Vectors are scaled to unit length: Gemini
 * normalises only full-size vectors, and shortened ones must be normalised for dot-product and
 * cosine scores to agree.
 */
export function createGeminiEmbedder(settings: GeminiEmbedderSettings): Embedder {
  const client = createGeminiClient(settings);
  const context = { provider: 'gemini', kind: 'embedding' } as const;

  async function embedBatch(texts: string[], signal: AbortSignal | undefined): Promise<number[][]> {
    let embeddings;
    try {
      const response = await client.models.embedContent({
        model: settings.model,
        contents: texts,
        config: { outputDimensionality: settings.dimensions, abortSignal: signal },
      });
      embeddings = response.embeddings ?? [];
    } catch (error) {
      throw toGeminiError(error, { ...context, signal }, settings.timeoutMs);
    }
    if (embeddings.length !== texts.length) {
      throw permanentError('embedding_malformed', `gemini returned ${embeddings.length} embeddings for ${texts.length} texts`);
    }
    return embeddings.map((embedding, index) => {
      const values = embedding.values ?? [];
      if (values.length !== settings.dimensions) {
        // A model that cannot give this size fails the same way every time: fix EMBEDDING_DIMENSIONS.
        throw permanentError(
          'embedding_dimension_mismatch',
          `gemini model ${settings.model} returned ${values.length} dimensions for text ${index}, expected ${settings.dimensions} (EMBEDDING_DIMENSIONS)`,
        );
      }
      return unitLength(values);
    });
  }

  return {
    provider: 'gemini',
    model: settings.model,
    dimensions: settings.dimensions,
    async embed(texts: string[], options?: EmbedOptions): Promise<number[][]> {
      if (options?.signal?.aborted) throw abortedError({ ...context, signal: options.signal });
      const vectors: number[][] = [];
      // One batch at a time: ingestion is not latency-bound, and it keeps under per-minute quotas.
      for (let start = 0; start < texts.length; start += GEMINI_EMBEDDING_BATCH_SIZE) {
        vectors.push(...(await embedBatch(texts.slice(start, start + GEMINI_EMBEDDING_BATCH_SIZE), options?.signal)));
      }
      return vectors;
    },
  };
}
