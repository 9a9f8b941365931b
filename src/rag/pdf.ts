/**
 * Text of a PDF, page by page, with its title and the headings of its outline (bookmarks), and
 * every way a file can be unusable turned into a permanent error: retrying a bad PDF gives the
 * same result, so it goes to the dead-letter queue at once.
 */
import { PDFParse } from 'pdf-parse';
import { permanentError, RagmailError } from '../lib/errors.js';
import { pageText, type PdfPage } from './pdf-page-text.js';

/** Limits of {@link readPdf} and {@link extractText}. */
export interface PdfTextLimits {
  /** Largest page count accepted; a longer document is refused before any text is read. */
  maxPages: number;
  /** Most characters one page may hold; a page over it refuses the document (`pdf_too_large`). Default: no limit. */
  maxPageChars?: number;
  /** Most characters the whole document may hold, counted as pages are read (`pdf_too_large`). Default: no limit. */
  maxDocumentChars?: number;
}

/** Options of {@link extractPages}. */
export interface ExtractPagesOptions extends PdfTextLimits {
  /** Called after each page with the pages done so far and the page count. */
  onProgress?: (done: number, total: number) => void;
}

/** Options of {@link readPdf}. */
export interface ReadPdfOptions extends PdfTextLimits {
  /** Called with each page's text (see {@link PdfText.pages}) as soon as it is read, in page order. */
  onPage: (text: string, pageNumber: number, total: number) => void;
}

/** What a PDF holds besides its pages' text. */
export interface PdfInfo {
  pageCount: number;
  /** The title in the document's metadata, when it has a usable one. */
  title?: string;
  /** The outline's entries in document order, each with the titles of the entries above it. */
  outline: OutlineEntry[];
}

/** What a PDF holds for retrieval. */
export interface PdfText {
  /**
   * Page n (1-based) is at index n - 1; a page without text is an empty string. Lines are
   * separated by line breaks; a line of code starts with four spaces (src/text/code-lines.ts), no
   * other line with whitespace.
   */
  pages: string[];
  /** The title in the document's metadata, when it has a usable one. */
  title?: string;
  /** The outline's entries in document order, each with the titles of the entries above it. */
  outline: OutlineEntry[];
}

/** One bookmark: its title and the path of titles from the top of the outline down to it. */
export interface OutlineEntry {
  title: string;
  path: string[];
}

const pdfSignature = '%PDF-';

/** Bounds on what a hostile outline can make us hold: entries, nesting and title length. */
const maxOutlineEntries = 20_000;
const maxOutlineDepth = 12;
const maxTitleChars = 300;

/** Titles that tools write when the author gave none. */
const placeholderTitle = /^(untitled|document\d*|microsoft word - .*|.*\.(docx?|odt|pdf|tex|dvi))$/i;

interface OutlineItem {
  title?: unknown;
  items?: unknown;
}

const cleanTitle = (title: unknown): string => (typeof title === 'string' ? title.replace(/\s+/gu, ' ').trim().slice(0, maxTitleChars) : '');

/** The outline flattened in document order, within the bounds above. */
function flattenOutline(items: unknown, parents: string[] = [], into: OutlineEntry[] = []): OutlineEntry[] {
  if (!Array.isArray(items) || parents.length >= maxOutlineDepth) return into;
  for (const item of items as OutlineItem[]) {
    if (into.length >= maxOutlineEntries) break;
    const title = cleanTitle(item?.title);
    if (!title) continue;
    const path = [...parents, title];
    into.push({ title, path });
    flattenOutline(item.items, path, into);
  }
  return into;
}

/** The metadata title, unless it is missing or a placeholder. */
function metadataTitle(info: unknown): string | undefined {
  const title = cleanTitle((info as { Title?: unknown } | undefined)?.Title);
  return title && !placeholderTitle.test(title) ? title : undefined;
}

/**
 * The pdf.js document pdf-parse has loaded. pdf-parse 2.4 reads a page's text only as a string
 * (see pdf-page-text.ts for what that loses); its own getText reads the pages of this document.
 * `load` is private to pdf-parse, hence its exact version in package.json: an upgrade is checked
 * by the extraction tests (test/unit/pdf.test.ts, test/integration/manual-code-lines.test.ts).
 */
function loadedDocument(parser: PDFParse): Promise<LoadedDocument> {
  return (parser as unknown as { load(): Promise<LoadedDocument> }).load();
}

/** What is read of that document: its pages, each released once its text is read. */
interface LoadedDocument {
  getPage(pageNumber: number): Promise<PdfPage & { cleanup(): void }>;
}

/** Names of the pdf-parse exceptions that mean the file needs a password. */
const passwordExceptionName = 'PasswordException';

function checkSignature(data: Uint8Array): void {
  if (data.byteLength === 0) {
    throw permanentError('pdf_empty', 'The PDF file is empty (0 bytes).');
  }
  const head = Buffer.from(data.subarray(0, pdfSignature.length)).toString('latin1');
  if (head !== pdfSignature) {
    throw permanentError('not_a_pdf', `The file is not a PDF: it does not start with "${pdfSignature}".`);
  }
}

function toExtractionError(error: unknown): RagmailError {
  if (error instanceof RagmailError) {
    return error;
  }
  const name = error instanceof Error ? error.name : '';
  const detail = error instanceof Error ? error.message : String(error);
  if (name === passwordExceptionName) {
    return permanentError('pdf_encrypted', 'The PDF is password-protected; upload an unencrypted copy.', error);
  }
  return permanentError('pdf_corrupt', `The PDF cannot be parsed: ${detail}`, error);
}

/**
 * Pages read from one opening of a document. The PDF engine keeps every object it has parsed
 * (fonts, resources, page dictionaries) until the document is closed, so a long document is
 * closed and opened again after this many pages: with it, reading the 2,415 pages of R's reference
 * manual peaked at 165–172 MiB instead of 213–227 (and a 300-page manual is opened once).
 */
const pagesPerOpening = 500;

/** A parser of a fresh copy of the file's bytes, which the PDF engine may take over. */
function openParser(readBytes: () => Uint8Array): PDFParse {
  const data = readBytes();
  checkSignature(data);
  // A Buffer would be copied by pdf-parse; a view of the same bytes is not (nor is it by pdf.js,
  // unless it is a slice of a larger buffer, such as Node's pool of small Buffers).
  return new PDFParse({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

/**
 * Reads the text of a PDF page by page, handing each page to `onPage` as soon as it is read and
 * keeping none, and returns its page count, metadata title and outline. `readBytes` gives the
 * file's bytes, a copy of its own at each call: the PDF engine takes each over (it may detach
 * it), so the file is held once, not twice, and a long document is opened more than once (see
 * `pagesPerOpening`).
 *
 * Text limits are checked page by page, so reading stops at the first page that crosses one.
 * This bounds what comes out; what a hostile page costs to read is bounded by running this in a
 * child process (see pdf-sandbox.ts).
 *
 * @throws RagmailError (never retryable) with code `pdf_empty`, `not_a_pdf`, `pdf_encrypted`,
 * `pdf_corrupt`, `pdf_too_many_pages` or `pdf_too_large`.
 */
export async function readPdf(readBytes: () => Uint8Array, options: ReadPdfOptions): Promise<PdfInfo> {
  let parser = openParser(readBytes);
  try {
    // Reading the page count loads only the page tree, so a document claiming 100,000 pages is
    // refused here without touching the text of any of them.
    const { total, info, outline } = await parser.getInfo();
    if (total > options.maxPages) {
      throw permanentError('pdf_too_many_pages', `The PDF has ${total} pages; at most ${options.maxPages} are accepted.`);
    }
    const maxPageChars = options.maxPageChars ?? Number.POSITIVE_INFINITY;
    const maxDocumentChars = options.maxDocumentChars ?? Number.POSITIVE_INFINITY;
    let document = await loadedDocument(parser);
    let documentChars = 0;
    for (let pageNumber = 1; pageNumber <= total; pageNumber += 1) {
      if (pageNumber % pagesPerOpening === 1 && pageNumber > 1) {
        await parser.destroy();
        parser = openParser(readBytes);
        document = await loadedDocument(parser);
      }
      const page = await document.getPage(pageNumber);
      const text = await pageText(page);
      page.cleanup();
      if (text.length > maxPageChars) {
        throw permanentError('pdf_too_large', `Page ${pageNumber} of the PDF holds ${text.length} characters; at most ${maxPageChars} per page are accepted.`);
      }
      documentChars += text.length;
      if (documentChars > maxDocumentChars) {
        throw permanentError('pdf_too_large', `The PDF holds more than ${maxDocumentChars} characters (over the limit at page ${pageNumber}).`);
      }
      options.onPage(text, pageNumber, total);
    }
    return { pageCount: total, title: metadataTitle(info), outline: flattenOutline(outline) };
  } catch (error) {
    throw toExtractionError(error);
  } finally {
    await parser.destroy();
  }
}

/** Extracts the text of every page of a PDF, its metadata title and its outline (see {@link readPdf}, whose errors it throws). */
export async function extractText(data: Uint8Array, options: ExtractPagesOptions): Promise<PdfText> {
  const pages: string[] = [];
  // Copies, because the PDF engine may take ownership of (detach) the buffer it is given.
  const { title, outline } = await readPdf(() => new Uint8Array(data), {
    ...options,
    onPage: (text, pageNumber, total) => {
      pages.push(text);
      options.onProgress?.(pageNumber, total);
    },
  });
  return { pages, title, outline };
}

/** The text of every page of a PDF (see {@link extractText}, whose errors it throws). */
export async function extractPages(data: Uint8Array, options: ExtractPagesOptions): Promise<string[]> {
  return (await extractText(data, options)).pages;
}
