/**
 * The structure of a document's page texts that retrieval uses: running headers and footers are
 * removed (a page number or a manual's name repeated on every page says nothing about the page,
 * yet matches every query that names the product), and each page is cut where a heading of the
 * document's outline starts, so every piece of text knows the section it belongs to.
 */
import type { OutlineEntry } from './pdf.js';

/** A running line is one of the first or last few lines of a page ... */
const edgeLines = 2;
/** ... that recurs, digits aside, on at least this share of the pages (and on three of them). */
const runningShare = 0.1;
const minimumRepeats = 3;
/**
 * Outline entries a heading found may skip (bookmarks whose heading the text does not show):
 * many for a heading alone on its line, few for one run into its paragraph's first line, which
 * is weaker evidence.
 */
const headingLookahead = 12;
const runInLookahead = 4;

/** A line as compared with others: digits (page numbers) collapsed, case and spacing ignored. */
const lineShape = (line: string): string => line.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ').trim();

/** The first and last lines of a page, where headers and footers are. */
function edgeIndexes(lines: string[]): number[] {
  const indexes = new Set<number>();
  for (let offset = 0; offset < Math.min(edgeLines, lines.length); offset += 1) {
    indexes.add(offset);
    indexes.add(lines.length - 1 - offset);
  }
  return [...indexes];
}

/** The lines of a page that are not blank. */
const textLines = (page: string): string[] => page.split('\n').filter((line) => line.trim() !== '');

/**
 * The running headers and footers of a document whose pages are seen one at a time: every page is
 * counted (`add`) before any is stripped (`strip`), since a line is running by how many pages it
 * recurs on. What is kept is a count per distinct edge line, not the pages.
 */
export class RunningLines {
  readonly #pagesWithShape = new Map<string, number>();
  #pages = 0;

  /** Counts the edge lines of the next page. */
  add(page: string): void {
    const pageLines = textLines(page);
    this.#pages += 1;
    for (const shape of new Set(edgeIndexes(pageLines).map((index) => lineShape(pageLines[index])))) {
      this.#pagesWithShape.set(shape, (this.#pagesWithShape.get(shape) ?? 0) + 1);
    }
  }

  /** The page without its running lines, once every page has been added. */
  strip(page: string): string {
    const pageLines = textLines(page);
    const threshold = Math.max(minimumRepeats, this.#pages * runningShare);
    const running = new Set(edgeIndexes(pageLines).filter((index) => (this.#pagesWithShape.get(lineShape(pageLines[index])) ?? 0) >= threshold));
    return pageLines.filter((_, index) => !running.has(index)).join('\n');
  }
}

/** The pages without their running headers and footers. */
export function stripRunningLines(pages: string[]): string[] {
  const runningLines = new RunningLines();
  for (const page of pages) runningLines.add(page);
  return pages.map((page) => runningLines.strip(page));
}

/** A heading as compared with a line: a leading section number dropped, case and spacing ignored. */
const headingShape = (text: string): string =>
  text
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^((\d+|[ivxlc]+)(\.\d+)*\.?) /, '');

/** Text of one page under one section heading. */
export interface PageSection {
  /** The outline path of the section (titles from the top down), when the document has one. */
  section?: string[];
  text: string;
}

/** What follows a heading in a table of contents: leader dots and a page number. */
const contentsEntryTail = /^[\s.]*\d+$/;

/** Which of the next headings a line starts, or -1. */
function headingAt(line: string, headings: string[]): number {
  return headings.findIndex(
    (heading, index) => line === heading || (index < runInLookahead && line.startsWith(`${heading} `) && !contentsEntryTail.test(line.slice(heading.length))),
  );
}

/**
 * Cuts pages at the lines that are headings of the outline, found in document order: call it with
 * each page in turn. Text before a page's first heading continues the section of the page before.
 */
export function createSectionSplitter(outline: OutlineEntry[]): (page: string) => PageSection[] {
  let next = 0;
  let current: string[] | undefined;
  const shapes = outline.map((entry) => headingShape(entry.title));
  return (page) => {
    const parts: PageSection[] = [{ section: current, text: '' }];
    for (const line of page.split('\n')) {
      const shape = headingShape(line);
      const found = shape ? headingAt(shape, shapes.slice(next, next + headingLookahead)) : -1;
      if (found >= 0) {
        current = outline[next + found].path;
        next += found + 1;
        parts.push({ section: current, text: '' });
      }
      const part = parts[parts.length - 1];
      part.text += `${line}\n`;
    }
    return parts.filter((part) => part.text.trim() !== '');
  };
}

/** Each page cut at the lines that are headings of the outline (see {@link createSectionSplitter}). */
export function splitSections(pages: string[], outline: OutlineEntry[]): PageSection[][] {
  return pages.map(createSectionSplitter(outline));
}
