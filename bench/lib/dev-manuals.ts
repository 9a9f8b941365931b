/**
 * The dev set's manuals (eval/manuals.json, fetched into data/eval-cache as `npm run eval` does)
 * chunked as the ingester chunks them, and copies of them under other document ids: a mailbox of
 * any size made of real manuals' text.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/app/config.js';
import { fetchDevManual, readDevManuals } from '../../src/eval/manuals.js';
import { chunkPages } from '../../src/rag/chunking.js';
import { stripRunningLines } from '../../src/rag/document-structure.js';
import { extractTextInChild } from '../../src/rag/pdf-sandbox.js';
import type { Chunk } from '../../src/providers/vector-store/spec.js';
import { progress } from './report.js';

/** The repository's root folder. */
export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The dev manuals' chunks, one array per manual, made as the ingester makes them. */
export async function devManualChunks(config: Config): Promise<Chunk[][]> {
  const manuals = await readDevManuals(path.join(repositoryRoot, 'eval', 'manuals.json'));
  const documents: Chunk[][] = [];
  for (const manual of manuals) {
    const file = await open(await fetchDevManual(manual, path.join(repositoryRoot, 'data', 'eval-cache')));
    try {
      const pdf = await extractTextInChild(file, {
        limits: {
          maxPages: config.MAX_PDF_PAGES,
          maxPageChars: config.PDF_MAX_PAGE_CHARS,
          maxDocumentChars: config.PDF_MAX_DOCUMENT_CHARS,
          timeoutMs: config.PDF_PARSE_TIMEOUT_MS,
          maxMemoryMb: config.PDF_PARSE_MAX_MEMORY_MB,
        },
      });
      const pages = stripRunningLines(pdf.pages);
      documents.push(
        chunkPages(pages, {
          documentId: manual.name,
          documentName: manual.name,
          documentTitle: pdf.title ?? pdf.outline[0]?.title,
          outline: pdf.outline,
          chunkSize: config.CHUNK_SIZE,
          overlap: config.CHUNK_OVERLAP,
        }),
      );
    } finally {
      await file.close();
    }
    progress(`chunked ${manual.name}: ${documents.at(-1)?.length} chunks`);
  }
  return documents;
}

/** The documents again as copy `copy`: another document id and name, the same text (copy 0: themselves). */
export function copyOf(documents: Chunk[][], copy: number): Chunk[][] {
  if (copy === 0) return documents;
  return documents.map((chunks) =>
    chunks.map((chunk) => ({ ...chunk, document_id: `${chunk.document_id}~${copy}`, document_name: `${chunk.document_name} (copy ${copy})` })),
  );
}
