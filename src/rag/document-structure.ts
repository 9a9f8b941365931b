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

/** The pages without their running headers and footers. */
export function stripRunningLines(pages: string[]): string[] {
  const lines = pages.map((page) => page.split('\n').filter((line) => line.trim() !== ''));
  const pagesWithShape = new Map<string, number>();
  for (const pageLines of lines) {
    for (const shape of new Set(edgeIndexes(pageLines).map((index) => lineShape(pageLines[index])))) {
      pagesWithShape.set(shape, (pagesWithShape.get(shape) ?? 0) + 1);
    }
  }
  const threshold = Math.max(minimumRepeats, pages.length * runningShare);
  return lines.map((pageLines) => {
    const running = new Set(edgeIndexes(pageLines).filter((index) => (pagesWithShape.get(lineShape(pageLines[index])) ?? 0) >= threshold));
    return pageLines.filter((_, index) => !running.has(index)).join('\n');
  });
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
 * Each page cut at the lines that are headings of the outline, found in document order. Text
 * before a page's first heading continues the section of the page before.
 */
export function splitSections(pages: string[], outline: OutlineEntry[]): PageSection[][] {
  let next = 0;
  let current: string[] | undefined;
  const shapes = outline.map((entry) => headingShape(entry.title));
  return pages.map((page) => {
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
  });
}
