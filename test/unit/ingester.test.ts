/**
 * The ingester's handler on its own (no broker): a long document goes to the store a batch of
 * chunks at a time inside one replacement, and a document refused for its size leaves the
 * previous version served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RagmailError } from '../../src/lib/errors.js';
import { createLogger } from '../../src/lib/log.js';
import type { HandlerContext } from '../../src/messaging/consumer.js';
import type { EventFields } from '../../src/pipeline/events.js';
import type { ToIngestMessage } from '../../src/pipeline/messages.js';
import { createSqliteVectorStore } from '../../src/providers/vector-store/sqlite.js';
import type { Chunk, ChunkBatches, VectorStore } from '../../src/providers/vector-store/spec.js';
import { createIngesterHandler, type IngesterDependencies } from '../../src/roles/ingester.js';
import { makePdf } from '../helpers/pdf-fixtures.js';

const MAILBOX = 'support@acme.example';

/** A page of distinct sentences, about `sentences` × 60 characters. */
const pageOf = (page: number, sentences: number) =>
  Array.from({ length: sentences }, (_unused, index) => `Section ${page}.${index} explains setting number ${page * 100 + index} of the router.`).join(' ');

/** The store, recording the size of each batch the ingester hands to `replaceDocument`. */
function recordingBatches(store: VectorStore, batchSizes: number[]): VectorStore {
  return {
    ...store,
    provider: store.provider,
    name: store.name,
    upsert: (namespace, chunks) => store.upsert(namespace, chunks),
    deleteDocument: (namespace, documentId) => store.deleteDocument(namespace, documentId),
    query: (namespace, text, k) => store.query(namespace, text, k),
    close: () => store.close(),
    replaceDocument(namespace: string, documentId: string, batches: ChunkBatches) {
      async function* recorded(): AsyncGenerator<Chunk[]> {
        for await (const batch of batches) {
          batchSizes.push(batch.length);
          yield batch;
        }
      }
      return store.replaceDocument(namespace, documentId, recorded());
    },
  };
}

async function withIngester(
  body: (ingest: (pdf: Buffer, overrides?: Partial<IngesterDependencies>) => Promise<EventFields[]>, store: VectorStore, batchSizes: number[]) => Promise<void>,
): Promise<void> {
  const folder = await mkdtemp(path.join(tmpdir(), 'ingester-'));
  const sqlite = createSqliteVectorStore({ path: path.join(folder, 'vectors.db') });
  const batchSizes: number[] = [];
  const store = recordingBatches(sqlite, batchSizes);
  const logger = createLogger({ level: 'error', format: 'json', role: 'ingester' });
  const ingest = async (pdf: Buffer, overrides: Partial<IngesterDependencies> = {}) => {
    const file = path.join(folder, `${batchSizes.length}-${Date.now()}.pdf`);
    await writeFile(file, pdf);
    const handler = createIngesterHandler({
      store,
      uploadDir: folder,
      chunkSize: 800,
      chunkOverlap: 150,
      pdfLimits: { maxPages: 500, maxPageChars: 100_000, maxDocumentChars: 5_000_000, timeoutMs: 60_000, maxMemoryMb: 256 },
      maxChunks: 10_000,
      ...overrides,
    });
    const events: EventFields[] = [];
    const message = { document_id: 'router-manual', agent_email: MAILBOX, filename: 'router.pdf', path: file } as ToIngestMessage;
    // The ingester publishes nothing itself: its events go through `emit`, recorded here.
    const context = { role: 'ingester', logger, signal: new AbortController().signal, attempt: 1, emit: async (event: EventFields) => void events.push(event) };
    await handler(message, context as unknown as HandlerContext);
    return events;
  };
  try {
    await body(ingest, store, batchSizes);
  } finally {
    await store.close();
    await rm(folder, { recursive: true, force: true });
  }
}

test('a long document reaches the store in batches of at most 100 chunks, all of its chunks in one replacement', { timeout: 120_000 }, () =>
  withIngester(async (ingest, store, batchSizes) => {
    const events = await ingest(await makePdf(Array.from({ length: 80 }, (_unused, page) => pageOf(page + 1, 40))));
    const ingested = events.find((event) => event.stage === 'ingested');
    const chunks = (ingested?.detail as { chunks: number }).chunks;
    assert.ok(chunks > 200, `a document of ${chunks} chunks`);
    assert.ok(batchSizes.length >= 3, `${batchSizes.length} batches: ${batchSizes.join(', ')}`);
    assert.ok(
      batchSizes.every((size) => size <= 110),
      `each batch holds about 100 chunks (whole pages): ${batchSizes.join(', ')}`,
    );
    assert.equal(
      batchSizes.reduce((sum, size) => sum + size, 0),
      chunks,
    );
    assert.ok((ingested?.detail as { reader_peak_mib: number }).reader_peak_mib > 0, "the reading child's peak memory is reported");
    const [found] = await store.query(MAILBOX, 'setting number 7917', 1);
    assert.match(found?.text ?? '', /setting number 7917 /, 'the last page is searchable');
  }),
);

test('a new version refused for its chunk count leaves the previous version served', { timeout: 120_000 }, () =>
  withIngester(async (ingest, store, batchSizes) => {
    await ingest(await makePdf(['Reset the router: hold the reset button for ten seconds.']));
    const refusal = await ingest(await makePdf(Array.from({ length: 10 }, (_unused, page) => pageOf(page + 1, 40))), { maxChunks: 20 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refusal instanceof RagmailError && refusal.code === 'pdf_too_large', String(refusal));
    assert.deepEqual(batchSizes, [1], 'nothing of the refused version was written');
    const [found] = await store.query(MAILBOX, 'reset button ten seconds', 1);
    assert.match(found?.text ?? '', /hold the reset button/);
  }),
);
