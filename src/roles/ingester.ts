/**
 * ingester: one document at a time, PDF → pages → overlapping chunks → vector store, under the
 * mailbox's namespace. Re-ingesting replaces the document's chunks. Progress goes out as events.
 */
import { readFile } from 'node:fs/promises';
import type { Handler } from '../messaging/consumer.js';
import type { ToIngestMessage } from '../messaging/schemas.js';
import { permanentError } from '../errors.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import { extractPages } from '../rag/pdf.js';
import { chunkPages } from '../rag/chunking.js';

export interface IngesterDependencies {
  store: VectorStore;
  chunkSize: number;
  chunkOverlap: number;
  maxPages: number;
}

/** Progress events at most this often, so a 1,000-page manual does not flood the audit stream. */
const PROGRESS_INTERVAL_MS = 500;

export function createIngesterHandler({ store, chunkSize, chunkOverlap, maxPages }: IngesterDependencies): Handler<ToIngestMessage> {
  return async (message, context) => {
    const started = Date.now();
    const base = { document_id: message.document_id, agent_email: message.agent_email };
    let data: Buffer;
    try {
      data = await readFile(message.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
        throw permanentError('document_unreadable', `cannot read ${message.path}: ${code}`, error);
      }
      throw error;
    }
    let lastProgress = 0;
    const progress: Promise<void>[] = [];
    const pages = await extractPages(data, {
      maxPages,
      onProgress: (done, total) => {
        const now = Date.now();
        if (done === total || now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          progress.push(context.emit({ stage: 'ingest_progress', ...base, detail: { pages_done: done, pages_total: total, filename: message.filename } }));
        }
      },
    });
    await Promise.all(progress);
    const chunks = chunkPages(pages, { documentId: message.document_id, documentName: message.filename, chunkSize, overlap: chunkOverlap });
    await store.deleteDocument(message.agent_email, message.document_id);
    await store.upsert(message.agent_email, chunks);
    await context.emit({
      stage: 'ingested',
      ...base,
      duration_ms: Date.now() - started,
      provider: store.provider,
      detail: { filename: message.filename, pages: pages.length, chunks: chunks.length },
    });
    context.logger.info('document ingested', { document_id: message.document_id, pages: pages.length, chunks: chunks.length });
    return { status: 'ingested' };
  };
}
