/**
 * Embeddings from an OpenAI-compatible server (`POST /embeddings` through the `openai` SDK): OpenAI's
 * `text-embedding-3-*`, or a local model served by Ollama, llama.cpp, vLLM or LocalAI. Texts go in
 * batches of at most {@link OPENAI_EMBEDDING_BATCH_SIZE}.
 */
import { permanentError } from '../../lib/errors.js';
import { abortedError } from '../llm/errors.js';
import { createOpenAIClient, toOpenAIError } from '../llm/openai.js';
import type { OpenAIDialect } from '../llm/openai-dialect.js';
import type { EmbedOptions, Embedder } from './spec.js';
import { unitLength } from './unit-length.js';

/** Texts per request: OpenAI takes up to 2,048 inputs; local servers are slower, so batches stay small. */
export const OPENAI_EMBEDDING_BATCH_SIZE = 64;

/** Settings of {@link createOpenAIEmbedder} (OPENAI_API_KEY, OPENAI_EMBEDDING_MODEL, EMBEDDING_DIMENSIONS, OPENAI_BASE_URL, LLM_TIMEOUT_MS). */
export interface OpenAIEmbedderSettings {
  apiKey: string;
  /** Embedding model, e.g. `text-embedding-3-small`, or `nomic-embed-text` on Ollama. */
  model: string;
  /** Length of every vector. Asked for (`dimensions`) only in OpenAI's dialect: a local model has one size. */
  dimensions: number;
  /** Which request fields the server reads (see openaiDialect in llm/openai.ts). */
  dialect: OpenAIDialect;
  /** API root with its version; default OpenAI's endpoint. */
  baseUrl?: string;
  /** Time allowed for one HTTP request, in ms. */
  timeoutMs: number;
}

/**
 * Creates the embedder of an OpenAI-compatible server (provider `openai`). Vectors are scaled to
 * unit length, so dot-product and cosine scores agree whatever the server does.
 */
export function createOpenAIEmbedder(settings: OpenAIEmbedderSettings): Embedder {
  const client = createOpenAIClient(settings);
  const context = { provider: 'openai', kind: 'embedding' } as const;

  async function embedBatch(texts: string[], signal: AbortSignal | undefined): Promise<number[][]> {
    let data;
    try {
      const response = await client.embeddings.create(
        {
          model: settings.model,
          input: texts,
          encoding_format: 'float',
          ...(settings.dialect === 'openai' ? { dimensions: settings.dimensions } : {}),
        },
        { signal },
      );
      data = response.data ?? [];
    } catch (error) {
      throw toOpenAIError(error, { ...context, signal }, settings.timeoutMs);
    }
    if (data.length !== texts.length) {
      throw permanentError('embedding_malformed', `openai returned ${data.length} embeddings for ${texts.length} texts`);
    }
    // The answer carries each vector's index; servers may not keep the order.
    return [...data]
      .sort((left, right) => left.index - right.index)
      .map((item, index) => {
        const values = item.embedding;
        if (!Array.isArray(values) || values.length !== settings.dimensions) {
          // A model of another size fails the same way every time: fix EMBEDDING_DIMENSIONS.
          throw permanentError(
            'embedding_dimension_mismatch',
            `openai model ${settings.model} returned ${Array.isArray(values) ? values.length : 'no'} dimensions for text ${index}, expected ${settings.dimensions} (EMBEDDING_DIMENSIONS)`,
          );
        }
        return unitLength(values);
      });
  }

  return {
    provider: 'openai',
    model: settings.model,
    dimensions: settings.dimensions,
    async embed(texts: string[], options?: EmbedOptions): Promise<number[][]> {
      if (options?.signal?.aborted) throw abortedError({ ...context, signal: options.signal });
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += OPENAI_EMBEDDING_BATCH_SIZE) {
        vectors.push(...(await embedBatch(texts.slice(start, start + OPENAI_EMBEDDING_BATCH_SIZE), options?.signal)));
      }
      return vectors;
    },
  };
}
