/**
 * What the PDF sandbox's parent (pdf-sandbox.ts) and child (pdf-child.ts) say to each other over
 * the IPC channel. Only types and one constant, so the child loads nothing it does not need.
 */
import type { PdfText } from './pdf.js';

/** The child reads the PDF from this file descriptor, opened by the parent (stdio slot 4). */
export const PDF_FILE_DESCRIPTOR = 4;

/** Parent → child, once, after `ready`: read the PDF with these limits. */
export interface ExtractRequest {
  maxPages: number;
  maxPageChars: number;
  maxDocumentChars: number;
}

/** Child → parent: `ready` once loaded, pages read so far, then exactly one `text` or `failed`. */
export type ChildReply =
  | { type: 'ready' }
  | { type: 'progress'; done: number; total: number }
  | { type: 'text'; text: PdfText }
  | { type: 'failed'; code: string; message: string; retryable: boolean };
