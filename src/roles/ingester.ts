/**
 * ingester: one document at a time, PDF → pages → overlapping chunks → vector store, under the
 * mailbox's namespace. Re-ingesting replaces the document's chunks. Progress goes out as events.
 *
 * Only files inside the upload folder are read (a message naming any other path is refused), and
 * the PDF is read in a child process with a time and memory budget and text limits, so a hostile
 * document is dead-lettered with its reason while this process keeps its memory and heartbeats.
 */
import type { Handler } from '../messaging/consumer.js';
import type { ToIngestMessage } from '../pipeline/messages.js';
import { permanentError } from '../lib/errors.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import { chunkPages } from '../rag/chunking.js';
import { stripRunningLines } from '../rag/document-structure.js';
import type { PdfText } from '../rag/pdf.js';
import { extractTextInChild, type PdfLimits } from '../rag/pdf-sandbox.js';
import { openStoredDocument } from '../features/documents.js';

export interface IngesterDependencies {
  store: VectorStore;
  /** The only folder documents are read from (UPLOAD_DIR). */
  uploadDir: string;
  chunkSize: number;
  chunkOverlap: number;
  /** Limits on reading one PDF. */
  pdfLimits: PdfLimits;
  /** Most chunks one document may give (`pdf_too_large`). */
  maxChunks: number;
}

/** The first line of text of a document: its title when neither metadata nor outline gives one. */
function firstLine(pages: string[]): string | undefined {
  for (const page of pages) {
    const line = page.split('\n').find((text) => text.trim() !== '');
    if (line) return line.replace(/\s+/g, ' ').trim().slice(0, 300);
  }
  return undefined;
}

/** Progress events at most this often, so a 1,000-page manual does not flood the audit stream. */
const PROGRESS_INTERVAL_MS = 500;

export function createIngesterHandler({ store, uploadDir, chunkSize, chunkOverlap, pdfLimits, maxChunks }: IngesterDependencies): Handler<ToIngestMessage> {
  return async (message, context) => {
    const started = Date.now();
    const base = { document_id: message.document_id, agent_email: message.agent_email };
    const file = await openStoredDocument(uploadDir, message.path);
    let lastProgress = 0;
    const progress: Promise<void>[] = [];
    let pdf: PdfText;
    try {
      pdf = await extractTextInChild(file, {
        limits: pdfLimits,
        signal: context.signal,
        onProgress: (done, total) => {
          const now = Date.now();
          if (done === total || now - lastProgress >= PROGRESS_INTERVAL_MS) {
            lastProgress = now;
            progress.push(context.emit({ stage: 'ingest_progress', ...base, detail: { pages_done: done, pages_total: total, filename: message.filename } }));
          }
        },
      });
    } finally {
      await file.close();
      await Promise.all(progress);
    }
    const pages = stripRunningLines(pdf.pages);
    const chunks = chunkPages(pages, {
      documentId: message.document_id,
      documentName: message.filename,
      documentTitle: pdf.title ?? pdf.outline[0]?.title ?? firstLine(pages),
      outline: pdf.outline,
      chunkSize,
      overlap: chunkOverlap,
    });
    // A scanned manual (images, no text layer) would otherwise be "ingested" and answer nothing.
    if (chunks.length === 0) {
      throw permanentError(
        'pdf_no_text',
        'No text could be read from the PDF: it may hold scanned images only. Upload a PDF with a text layer (run OCR on it first).',
      );
    }
    if (chunks.length > maxChunks) {
      throw permanentError('pdf_too_large', `The PDF gives ${chunks.length} chunks; at most ${maxChunks} per document are accepted.`);
    }
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
