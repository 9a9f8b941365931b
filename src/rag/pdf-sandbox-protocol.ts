/**
 * What the PDF sandbox's parent (pdf-sandbox.ts) and child (pdf-child.ts) say to each other over
 * the IPC channel. Only types and one constant, so the child loads nothing it does not need.
 */
import type { PdfInfo } from './pdf.js';

/** The child reads the PDF from this file descriptor, opened by the parent (stdio slot 4). */
export const PDF_FILE_DESCRIPTOR = 4;

/** Parent → child, once, after `ready`: read the PDF with these limits. */
export interface ExtractRequest {
  maxPages: number;
  maxPageChars: number;
  maxDocumentChars: number;
}

/**
 * Child → parent: `ready` once loaded, then each page's text as it is read (so neither side holds
 * the document's text in one message), then exactly one `done` or `failed`. `done` carries the
 * child's peak resident size, which its parent cannot read once it has exited.
 */
export type ChildReply =
  | { type: 'ready' }
  | { type: 'page'; pageNumber: number; total: number; text: string }
  | { type: 'done'; info: PdfInfo; peakResidentBytes: number }
  | { type: 'failed'; code: string; message: string; retryable: boolean };
