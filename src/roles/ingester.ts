/**
 * ingester: one document at a time, PDF → pages → overlapping chunks → vector store, under the
 * mailbox's namespace. Re-ingesting replaces the document's chunks (the store swaps the new set in
 * once it is written, see VectorStore.replaceDocument). Progress goes out as events.
 *
 * Memory stays flat as documents grow: pages come from the reading child one message each, and
 * chunks are made, embedded and written a batch at a time; only the pages' text is held whole.
 *
 * Only files inside the upload folder are read (a message naming any other path is refused), and
 * the PDF is read in a child process with a time and memory budget and text limits, so a hostile
 * document is dead-lettered with its reason while this process keeps its memory and heartbeats.
 */
import type { Handler } from '../messaging/consumer.js';
import type { ToIngestMessage } from '../pipeline/messages.js';
import { permanentError } from '../lib/errors.js';
import type { Chunk, VectorStore } from '../providers/vector-store/spec.js';
import { createPageChunker, type ChunkPagesOptions } from '../rag/chunking.js';
import { RunningLines } from '../rag/document-structure.js';
import { readPdfInChild, type PdfLimits, type SandboxedPdfInfo } from '../rag/pdf-sandbox.js';
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
function firstLine(pages: Iterable<string>): string | undefined {
  for (const page of pages) {
    const line = page.split('\n').find((text) => text.trim() !== '');
    if (line) return line.replace(/\s+/g, ' ').trim().slice(0, 300);
  }
  return undefined;
}

/** The pages without their running lines, one at a time. */
function* strippedPages(pages: string[], runningLines: RunningLines): Generator<string> {
  for (const page of pages) yield runningLines.strip(page);
}

/** Progress events at most this often, so a 1,000-page manual does not flood the audit stream. */
const PROGRESS_INTERVAL_MS = 500;

/** Chunks handed to the store at a time: what is embedded and held at once (an embedding request's worth). */
const STORE_BATCH_CHUNKS = 100;

/** A document's chunks, page by page, in batches of `size`; each page's text is let go once chunked. */
function* chunkBatches(pages: string[], runningLines: RunningLines, options: ChunkPagesOptions, size: number): Generator<Chunk[]> {
  const chunkPage = createPageChunker(options);
  let batch: Chunk[] = [];
  for (let index = 0; index < pages.length; index += 1) {
    batch.push(...chunkPage(runningLines.strip(pages[index])));
    pages[index] = '';
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

export function createIngesterHandler({ store, uploadDir, chunkSize, chunkOverlap, pdfLimits, maxChunks }: IngesterDependencies): Handler<ToIngestMessage> {
  return async (message, context) => {
    const started = Date.now();
    const base = { document_id: message.document_id, agent_email: message.agent_email };
    const file = await openStoredDocument(uploadDir, message.path);
    let lastProgress = 0;
    const progress: Promise<void>[] = [];
    // Pages arrive one by one from the PDF reader. Their text is kept (it is bounded by
    // PDF_MAX_DOCUMENT_CHARS) because a running header is known only once every page has been
    // seen; their chunks and vectors never all are: they go to the store a batch at a time.
    const pages: string[] = [];
    const runningLines = new RunningLines();
    let pdf: SandboxedPdfInfo;
    try {
      pdf = await readPdfInChild(file, {
        limits: pdfLimits,
        signal: context.signal,
        onPage: (text, done, total) => {
          pages.push(text);
          runningLines.add(text);
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
    const pageCount = pages.length;
    const chunkOptions: ChunkPagesOptions = {
      documentId: message.document_id,
      documentName: message.filename,
      documentTitle: pdf.title ?? pdf.outline[0]?.title ?? firstLine(strippedPages(pages, runningLines)),
      outline: pdf.outline,
      chunkSize,
      overlap: chunkOverlap,
    };
    // Counted before anything is written (chunking is cheap next to reading and storing), so a
    // document refused for its chunks leaves the previous version in every store.
    let chunkCount = 0;
    const chunkPage = createPageChunker(chunkOptions);
    for (const page of strippedPages(pages, runningLines)) chunkCount += chunkPage(page).length;
    // A scanned manual (images, no text layer) would otherwise be "ingested" and answer nothing.
    if (chunkCount === 0) {
      throw permanentError(
        'pdf_no_text',
        'No text could be read from the PDF: it may hold scanned images only. Upload a PDF with a text layer (run OCR on it first).',
      );
    }
    if (chunkCount > maxChunks) {
      throw permanentError('pdf_too_large', `The PDF gives ${chunkCount} chunks; at most ${maxChunks} per document are accepted.`);
    }
    await store.replaceDocument(message.agent_email, message.document_id, chunkBatches(pages, runningLines, chunkOptions, STORE_BATCH_CHUNKS));
    const readerPeakMib = Math.round(pdf.readerPeakBytes / 1_048_576);
    await context.emit({
      stage: 'ingested',
      ...base,
      duration_ms: Date.now() - started,
      provider: store.provider,
      detail: { filename: message.filename, pages: pageCount, chunks: chunkCount, reader_peak_mib: readerPeakMib },
    });
    context.logger.info('document ingested', { document_id: message.document_id, pages: pageCount, chunks: chunkCount, reader_peak_mib: readerPeakMib });
    return { status: 'ingested' };
  };
}
