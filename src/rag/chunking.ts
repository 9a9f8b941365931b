/**
 * Splits the pages of a document into overlapping chunks for retrieval. A chunk's text is on one
 * line but for its headings, its code lines and the starts of its list items, which keep lines of
 * their own (see normaliseKeepingHeadings).
 *
 * Chunks never cross a page boundary: a chunk then holds text of exactly one page, so the page a
 * reply cites is the page the fact is on. Nor do they cross a heading of the document's outline,
 * so each chunk belongs to one section, whose heading it carries. Within a section, chunks end at a sentence end where one
 * falls in the second half of the window, else at a word boundary, and the next chunk starts
 * `overlap` characters earlier (at a word boundary) so a fact cut by a boundary is whole in one
 * of the two chunks.
 */
import type { Chunk } from '../providers/vector-store/spec.js';
import { CODE_BREAK, isCodeLine } from '../text/code-lines.js';
import { startsListItem } from '../text/list-items.js';
import { createSectionSplitter } from './document-structure.js';
import type { OutlineEntry } from './pdf.js';

/** Options of {@link chunkPages}. */
export interface ChunkPagesOptions {
  /** Identifier of the document the chunks belong to. */
  documentId: string;
  /** Name of the document, shown in citations. */
  documentName: string;
  /** Title of the document, given to every chunk. */
  documentTitle?: string;
  /** The document's outline, whose headings start sections. Default: none. */
  outline?: OutlineEntry[];
  /** Largest chunk, in characters. Default 800. */
  chunkSize?: number;
  /** Characters repeated from the end of one chunk at the start of the next. Default 150. */
  overlap?: number;
}

const defaultChunkSize = 800;
const defaultOverlap = 150;

/** A sentence ends at one of these characters followed by whitespace. */
const sentenceEndSource = '[.!?](?=\\s)';

/** Collapses runs of whitespace (newlines, tabs, non-breaking spaces) into single spaces. */
export function normaliseWhitespace(text: string): string {
  return text.replace(/\s+/gu, ' ').trim();
}

/**
 * A line that reads as a heading: short, a capital or a section number first, then words only
 * (no sentence or clause punctuation, brackets or symbols, as code and table rows have), and a
 * letter or digit last (not the hyphen of a word cut at the line's end).
 */
const headingLine = /^(?:\d+(?:\.\d+)*\.?\s+)?\p{Lu}[\p{L}\p{N} '’&/-]{0,58}[\p{L}\p{N}]$/u;
const maxHeadingWords = 8;
/**
 * Labels of a note or a warning inside a section (DocBook's admonitions, in the languages the
 * reply is framed in): what follows belongs to the section, so they are not headings.
 */
const admonitions = new Set([
  'note',
  'notes',
  'tip',
  'hint',
  'important',
  'caution',
  'warning',
  'danger',
  'attention',
  'remarque',
  'avertissement',
  'astuce',
  'hinweis',
  'warnung',
  'achtung',
  'tipp',
  'nota',
  'advertencia',
  'consejo',
  'aviso',
]);

/**
 * The part's text with runs of whitespace collapsed, except that a heading keeps a line of its
 * own ("Firmware update\nNew firmware brings …"): collapsed, it would read as the first words of
 * the sentence after it, and a quote of that sentence would start with the heading run into it.
 * A heading here is a heading-like line after the end of a sentence or at the part's start, and
 * before a line that starts with a capital and is not heading-like itself: the items of a list
 * ("To reset it:" / "Unplug the cable" / "Hold the button") are runs of such lines, or follow a
 * colon, and stay the text they are.
 *
 * A code line of the page (src/text/code-lines.ts) starts with a tab, and the line after it with
 * a line break; so does a list item (a bullet or a number first, src/text/list-items.ts). Each
 * takes the place of the space the line would be joined with, so the words, the length and where
 * chunks end are what they would be without them.
 */
export function normaliseKeepingHeadings(text: string): string {
  const rawLines = text.split('\n').filter((line) => line.trim() !== '');
  const code = rawLines.map(isCodeLine);
  const lines = rawLines.map(normaliseWhitespace);
  const heading = (index: number) => {
    const line = lines[index];
    return (
      headingLine.test(line) &&
      line.split(' ').length <= maxHeadingWords &&
      !admonitions.has(line.toLowerCase()) &&
      (index === 0 || /[.!?]$/.test(lines[index - 1])) &&
      /^\p{Lu}/u.test(lines[index + 1] ?? '') &&
      !headingLine.test(lines[index + 1])
    );
  };
  return lines
    .map((line, index) => {
      if (index === 0) return code[index] ? `${CODE_BREAK}${line}` : line;
      const previous = lines[index - 1];
      // A compound cut after its hyphen ("Wi-" + "Fi") is one word again. A word cut by a hyphen
      // before a small letter ("créa-" + "tion") stays apart: joining those lost recall@3 on the
      // dev set (59 → 58 of 68), as "well-known" and the like lose their hyphen with them.
      if (/\p{L}-$/u.test(previous) && /^\p{Lu}/u.test(line)) return line;
      if (code[index]) return `${CODE_BREAK}${line}`;
      return `${code[index - 1] || startsListItem(line) || heading(index - 1) || heading(index) ? '\n' : ' '}${line}`;
    })
    .join('');
}

/** The last space or line break (a code line's too) at or before `from`, or -1. */
const lastBreak = (text: string, from: number): number =>
  Math.max(text.lastIndexOf(' ', from), text.lastIndexOf('\n', from), text.lastIndexOf(CODE_BREAK, from));

/** The first space or line break (a code line's too) at or after `from`, or -1. */
function nextBreak(text: string, from: number): number {
  const found = text.slice(from).search(/[ \n\t]/);
  return found < 0 ? -1 : from + found;
}

/** Where to end a chunk that starts at `start` and may run to `limit` (exclusive). */
function findChunkEnd(text: string, start: number, limit: number): number {
  const earliest = start + Math.floor((limit - start) / 2);
  let sentenceEnd = -1;
  const sentenceEndPattern = new RegExp(sentenceEndSource, 'g');
  sentenceEndPattern.lastIndex = earliest;
  for (let match = sentenceEndPattern.exec(text); match; match = sentenceEndPattern.exec(text)) {
    const end = match.index + 1;
    if (end > limit) {
      break;
    }
    sentenceEnd = end;
  }
  if (sentenceEnd > 0) {
    return sentenceEnd;
  }
  // The character at `limit` being a space means the window ends exactly on a word boundary.
  const lastSpace = lastBreak(text, limit);
  return lastSpace > earliest ? lastSpace : limit;
}

/** Where the chunk after one ending at `end` starts: `overlap` back, moved to a word start. */
function findNextStart(text: string, start: number, end: number, overlap: number): number {
  if (overlap === 0) {
    return end;
  }
  const candidate = Math.max(end - overlap, start + 1);
  const previousSpace = lastBreak(text, candidate - 1);
  const wordStart = previousSpace >= start ? previousSpace + 1 : candidate;
  // Moving back to the word start must not swallow much more than the overlap asked for.
  const nextStart = end - wordStart <= overlap * 1.5 ? wordStart : nextBreak(text, candidate) + 1;
  return nextStart > start && nextStart < end ? nextStart : end;
}

/**
 * The text from `start` to `end`, trimmed. A piece that starts in a code line starts with the
 * tab that marks it, one character the chunk has more than it would have without code lines.
 * `startsWithCode`: the text's first line is code (its tab is not in `text`).
 */
function pieceOf(text: string, start: number, end: number, startsWithCode: boolean): string {
  const trimmed = text.slice(start, end).trim();
  const lineStart = Math.max(text.lastIndexOf('\n', start - 1), text.lastIndexOf(CODE_BREAK, start - 1));
  const inCode = lineStart < 0 ? startsWithCode : text[lineStart] === CODE_BREAK;
  return trimmed && inCode ? `${CODE_BREAK}${trimmed}` : trimmed;
}

/** The chunks of one part's text, as normaliseKeepingHeadings gives it. */
function splitPage(normalised: string, chunkSize: number, overlap: number): string[] {
  // Chunks are measured without the tab of a first code line, as they were before code lines were kept.
  const startsWithCode = normalised.startsWith(CODE_BREAK);
  const text = startsWithCode ? normalised.slice(1) : normalised;
  const piece = (start: number, end: number) => pieceOf(text, start, end, startsWithCode);
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    if (text.length - start <= chunkSize) {
      pieces.push(piece(start, text.length));
      break;
    }
    const end = findChunkEnd(text, start, start + chunkSize);
    pieces.push(piece(start, end));
    start = findNextStart(text, start, end, overlap);
    while (text[start] === ' ' || text[start] === '\n' || text[start] === CODE_BREAK) {
      start += 1;
    }
  }
  return pieces.filter((piece) => piece.length > 0);
}

/** A section's name as stored with its chunks: the outline path down to it. */
const sectionName = (path: string[]): string => path.join(' > ');

/**
 * Chunks the pages of one document. `pages[i]` is page i + 1. Empty pages give no chunk;
 * `chunk_index` runs from 0 without gaps across the whole document.
 *
 * @throws RangeError when `chunkSize` is not positive or `overlap` is not in [0, chunkSize).
 */
export function chunkPages(pages: string[], options: ChunkPagesOptions): Chunk[] {
  return pages.flatMap(createPageChunker(options));
}

/**
 * Chunks a document one page at a time: call the function returned with each page in turn, from
 * page 1; it gives that page's chunks, those {@link chunkPages} gives it.
 *
 * @throws RangeError when `chunkSize` is not positive or `overlap` is not in [0, chunkSize).
 */
export function createPageChunker(options: ChunkPagesOptions): (page: string) => Chunk[] {
  const chunkSize = options.chunkSize ?? defaultChunkSize;
  const overlap = options.overlap ?? defaultOverlap;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= chunkSize) {
    throw new RangeError(`overlap must be an integer in [0, chunkSize), got ${overlap}`);
  }
  const splitSections = createSectionSplitter(options.outline ?? []);
  let pageNumber = 0;
  let chunkIndex = 0;
  return (page) => {
    pageNumber += 1;
    const chunks: Chunk[] = [];
    for (const part of splitSections(page)) {
      for (const text of splitPage(normaliseKeepingHeadings(part.text), chunkSize, overlap)) {
        chunks.push({
          document_id: options.documentId,
          document_name: options.documentName,
          page: pageNumber,
          chunk_index: chunkIndex,
          text,
          ...(part.section ? { section: sectionName(part.section) } : {}),
          ...(options.documentTitle ? { document_title: options.documentTitle } : {}),
        });
        chunkIndex += 1;
      }
    }
    return chunks;
  };
}
