/**
 * The hosted vector store: a Pinecone index (metric `cosine`) through the official SDK, one
 * namespace per mailbox (`agent_email`). Chunks are embedded here with the configured embedder.
 *
 * Records: id `<document_id>#<chunk_index>`, so re-upserting a chunk replaces it and a document's
 * records can be listed by the prefix `<document_id>#` (serverless indexes cannot delete by
 * metadata filter). Metadata `{ document_id, document_name, page, chunk_index, text }`, and
 * `section` and `document_title` when the chunk has them (Pinecone metadata holds no nulls).
 *
 * Score, in [0, 1]: Pinecone returns the cosine similarity in [-1, 1]; it is rescaled above a floor
 * exactly like the SQLite store's semantic score, max(0, (cos - floor) / (1 - floor)), because
 * embedding models rate unrelated texts well above 0. Matches scoring 0 are dropped, so both stores
 * mean the same thing by a score and the relevance threshold applies to either.
 */
import { Pinecone, type Index } from '@pinecone-database/pinecone';
import { RagmailError, isRetryableHttpStatus, permanentError, transientError } from '../../lib/errors.js';
import type { Embedder } from '../embeddings/spec.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import type { Chunk, ChunkBatches, ScoredChunk, VectorStore } from './spec.js';

/** Settings of {@link createPineconeVectorStore}. */
export interface PineconeVectorStoreSettings {
  /** Pinecone API key (PINECONE_API_KEY). */
  apiKey: string;
  /** Name of the index (PINECONE_INDEX); it must use the `cosine` metric and the embedder's dimension. */
  index: string;
  /** Data-plane host of the index (PINECONE_INDEX_HOST); default: resolved once by describing the index. */
  indexHost?: string;
  /** Control-plane URL (PINECONE_CONTROLLER_HOST); default the SDK's `https://api.pinecone.io`. */
  controllerHost?: string;
  /** Turns chunk texts and queries into vectors. */
  embedder: Embedder;
  /** Cosine similarity that counts as unrelated (score 0). Default 0.5, as the SQLite store. */
  similarityFloor?: number;
  /**
   * Retries of the SDK itself on 5xx. Default 0: the consumer runtime retries the whole message
   * with backoff, and retries at both levels would multiply into a storm.
   */
  maxRetries?: number;
  /** Timeout of each HTTP request in milliseconds. Default 30000. */
  timeoutMs?: number;
}

/** Metadata kept with every record; a type alias so it satisfies the SDK's index signature. */
type ChunkMetadata = {
  document_id: string;
  document_name: string;
  page: number;
  chunk_index: number;
  text: string;
  section?: string;
  document_title?: string;
};

/** Vectors per upsert request: Pinecone's recommended batch size. */
const upsertBatchSize = 100;
/** Texts per embedding request, within the batch limits of the hosted embedding APIs. */
const embeddingBatchSize = 100;
/** Matches asked for per result wanted: several chunks of one page come back as one result. */
const matchesPerResult = 3;
/** Ids per delete request (Pinecone's limit is 1000). */
const deleteBatchSize = 1000;

/** The record id of a chunk. */
export function pineconeRecordId(documentId: string, chunkIndex: number): string {
  return `${documentId}#${chunkIndex}`;
}

/** The status each SDK error class stands for; the SDK maps 403 to its bad-request class too. */
const statusByErrorName: Record<string, number> = {
  PineconeBadRequestError: 400,
  PineconeAuthorizationError: 401,
  PineconeNotFoundError: 404,
  PineconeConflictError: 409,
  PineconeUnprocessableEntityError: 422,
  PineconeInternalServerError: 500,
  PineconeUnavailableError: 503,
};

/** The HTTP status behind a Pinecone SDK error, when it can be known. */
function statusOf(error: Error): number | undefined {
  // 429 and other unmapped statuses only appear in the message ("Status: 429.").
  const unmapped = /Status: (\d{3})/.exec(error.message);
  return statusByErrorName[error.name] ?? (unmapped ? Number(unmapped[1]) : undefined);
}

/**
 * A Pinecone SDK error as a RagmailError: 429, 5xx and network failures are retryable;
 * 400, 401, 403 and 404 are permanent (a bad key or a missing index will not heal by retrying).
 */
export function pineconeError(action: string, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  if (!(error instanceof Error)) {
    return transientError('vector_store_unavailable', `pinecone ${action} failed: ${String(error)}`, error);
  }
  const status = statusOf(error);
  const message = `pinecone ${action} failed${status ? ` (HTTP ${status})` : ''}: ${error.message}`;
  if (status === 401 || status === 403) return permanentError('vector_store_auth', message, error);
  if (status === 429) return transientError('vector_store_quota', message, error);
  if (status !== undefined) {
    return isRetryableHttpStatus(status) ? transientError('vector_store_unavailable', message, error) : permanentError('vector_store_rejected', message, error);
  }
  if (error.name === 'PineconeArgumentError' || error.name === 'PineconeConfigurationError') {
    return permanentError('vector_store_rejected', message, error);
  }
  // Connection errors, timeouts and exhausted SDK retries: the service may answer later.
  return transientError('vector_store_unavailable', message, error);
}

function client(settings: Omit<PineconeVectorStoreSettings, 'embedder'>): Pinecone {
  const timeoutMs = settings.timeoutMs ?? 30_000;
  return new Pinecone({
    apiKey: settings.apiKey,
    controllerHostUrl: settings.controllerHost || undefined,
    maxRetries: settings.maxRetries ?? 0,
    // The SDK has no timeout option: every request gets one through the fetch it uses.
    fetchApi: (input, init) => fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) }),
  });
}

/** Creates the Pinecone vector store; see the module comment for ids, metadata and scores. */
export function createPineconeVectorStore(settings: PineconeVectorStoreSettings): VectorStore {
  const { embedder } = settings;
  const pinecone = client(settings);
  const similarityFloor = settings.similarityFloor ?? 0.5;
  let indexPromise: Promise<Index<ChunkMetadata>> | undefined;

  /**
   * The index handle, with its host resolved once by this store rather than by the SDK's
   * process-wide cache (keyed by API key and index name only).
   */
  function openIndex(): Promise<Index<ChunkMetadata>> {
    indexPromise ??= (async () => {
      const host = settings.indexHost || (await pinecone.describeIndex(settings.index)).host;
      return pinecone.index<ChunkMetadata>({ name: settings.index, host });
    })();
    // A failed resolution is not cached: the next call tries again.
    indexPromise.catch(() => {
      indexPromise = undefined;
    });
    return indexPromise;
  }

  async function namespaceOf(namespace: string, action: string): Promise<Index<ChunkMetadata>> {
    try {
      return (await openIndex()).namespace(namespace);
    } catch (error) {
      throw pineconeError(`${action} (describe index ${settings.index})`, error);
    }
  }

  async function embed(texts: string[]): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += embeddingBatchSize) {
      const batch = texts.slice(start, start + embeddingBatchSize);
      const result = await embedder.embed(batch);
      if (result.length !== batch.length || result.some((vector) => vector.length !== embedder.dimensions)) {
        throw permanentError('embedding_invalid', `${embedder.provider}/${embedder.model} returned vectors of the wrong count or length`);
      }
      vectors.push(...result);
    }
    return vectors;
  }

  async function listDocumentIds(index: Index<ChunkMetadata>, documentId: string): Promise<string[]> {
    const prefix = `${documentId}#`;
    const ids: string[] = [];
    let paginationToken: string | undefined;
    do {
      const page = await index.listPaginated({ prefix, paginationToken });
      for (const { id } of page.vectors ?? []) {
        // The prefix of "a" would also match the document "a#b": keep exact chunk ids only.
        if (id && id.startsWith(prefix) && /^\d+$/.test(id.slice(prefix.length))) ids.push(id);
      }
      paginationToken = page.pagination?.next;
    } while (paginationToken);
    return ids;
  }

  const store: VectorStore = {
    provider: 'pinecone',
    name: settings.index,

    async upsert(namespace: string, chunks: Chunk[]): Promise<void> {
      if (chunks.length === 0) return;
      const vectors = await embed(chunks.map((chunk) => chunk.text));
      const index = await namespaceOf(namespace, 'upsert');
      const records = chunks.map((chunk, position) => ({
        id: pineconeRecordId(chunk.document_id, chunk.chunk_index),
        values: vectors[position],
        metadata: {
          document_id: chunk.document_id,
          document_name: chunk.document_name,
          page: chunk.page,
          chunk_index: chunk.chunk_index,
          text: chunk.text,
          ...(chunk.section === undefined ? {} : { section: chunk.section }),
          ...(chunk.document_title === undefined ? {} : { document_title: chunk.document_title }),
        },
      }));
      for (let start = 0; start < records.length; start += upsertBatchSize) {
        try {
          await index.upsert({ records: records.slice(start, start + upsertBatchSize) });
        } catch (error) {
          throw pineconeError('upsert', error);
        }
      }
    },

    async replaceDocument(namespace: string, documentId: string, batches: ChunkBatches): Promise<void> {
      // Pinecone has no transaction to swap a set of records in: as when the ingester deleted and
      // then upserted, the previous chunks go first and a failure midway leaves part of the new
      // set (the ingester checks a document's limits before it writes anything; a retry rewrites it).
      await store.deleteDocument(namespace, documentId);
      for await (const batch of batches) await store.upsert(namespace, batch);
    },

    async deleteDocument(namespace: string, documentId: string): Promise<void> {
      const index = await namespaceOf(namespace, 'delete');
      try {
        const ids = await listDocumentIds(index, documentId);
        for (let start = 0; start < ids.length; start += deleteBatchSize) {
          await index.deleteMany({ ids: ids.slice(start, start + deleteBatchSize) });
        }
      } catch (error) {
        throw pineconeError('delete', error);
      }
    },

    async query(namespace: string, text: string, k: number): Promise<ScoredChunk[]> {
      if (!Number.isFinite(k) || k < 1 || text.trim().length === 0) return [];
      const [vector] = await embed([text]);
      const index = await namespaceOf(namespace, 'query');
      let matches;
      try {
        ({ matches } = await index.query({ vector, topK: Math.floor(k) * matchesPerResult, includeMetadata: true }));
      } catch (error) {
        throw pineconeError('query', error);
      }
      const pages = new Set<string>();
      return (matches ?? [])
        .flatMap((match) => {
          const metadata = match.metadata;
          if (!metadata || match.score === undefined) return [];
          // Best first: a page's first match is its best chunk.
          const page = `${String(metadata.document_id)}#${Number(metadata.page)}`;
          if (pages.has(page)) return [];
          pages.add(page);
          const score = Math.min(1, Math.max(0, (match.score - similarityFloor) / (1 - similarityFloor)));
          if (score <= 0) return [];
          return [
            {
              document_id: String(metadata.document_id),
              document_name: String(metadata.document_name),
              page: Number(metadata.page),
              chunk_index: Number(metadata.chunk_index),
              text: String(metadata.text),
              ...(typeof metadata.section === 'string' ? { section: metadata.section } : {}),
              ...(typeof metadata.document_title === 'string' ? { document_title: metadata.document_title } : {}),
              score,
            },
          ];
        })
        .slice(0, Math.floor(k));
    },

    async close(): Promise<void> {
      // The SDK holds no connections of its own: fetch keeps none open between requests.
    },
  };
  return store;
}

/** Settings of {@link checkPinecone}: those of the store; the embedder, when given, is compared with the index. */
export type PineconeCheckSettings = Omit<PineconeVectorStoreSettings, 'embedder'> & { embedder?: Embedder };

/**
 * Checks the key and the index: describes it on the control plane (ready, metric, dimension) and
 * reads its statistics on the data plane. Never throws; a failure is `ok: false` with the reason.
 */
export async function checkPinecone(settings: PineconeCheckSettings): Promise<ProviderCheck> {
  if (!settings.apiKey) return { ok: false, latencyMs: 0, detail: 'PINECONE_API_KEY is not set' };
  return runProviderCheck(
    async () => {
      const pinecone = client(settings);
      const description = await pinecone.describeIndex(settings.index);
      const problems: string[] = [];
      if (!description.status?.ready) problems.push(`not ready (state ${description.status?.state ?? 'unknown'})`);
      if (description.metric !== 'cosine') problems.push(`metric is ${description.metric}, cosine is required`);
      if (settings.embedder && description.dimension !== settings.embedder.dimensions) {
        problems.push(`dimension ${description.dimension} differs from the embedder's ${settings.embedder.dimensions}`);
      }
      if (problems.length > 0) {
        throw permanentError('vector_store_misconfigured', `index ${settings.index}: ${problems.join('; ')}`);
      }
      const host = settings.indexHost || description.host;
      const statistics = await pinecone.index({ name: settings.index, host }).describeIndexStats();
      return `index ${settings.index}: dimension ${description.dimension}, cosine, ${statistics.totalRecordCount ?? 0} records`;
    },
    (error) => {
      const mapped = pineconeError(`check of index ${settings.index}`, error);
      const hint = mapped.code === 'vector_store_auth' ? 'API key rejected, check PINECONE_API_KEY: ' : '';
      return `${mapped.code}: ${hint}${mapped.message}`;
    },
  );
}
