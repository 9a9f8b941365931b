/**
 * The text of one PDF page, line by line, with the lines of commands, code and examples marked
 * (src/text/code-lines.ts): those keep their line breaks through chunking and quoting, where the
 * lines of a paragraph are joined into sentences.
 *
 * pdf-parse's getText gives a page's text as one string, its lines without the fonts they are set
 * in. The evidence is in what pdf.js reads from the page: each text item's font, whose family is
 * `monospace` when the font is fixed-pitch, and its position. A manual sets its code in a
 * fixed-pitch font (gnuplot's and R's TeX manuals, DocBook's AMC manual all do), its prose in a
 * proportional one; a word of code inside a sentence leaves the line's other words proportional.
 * So a code line is a line every character of which is set in a fixed-pitch font. Indentation is
 * no evidence (DocBook puts code at the margin, TeX indents it and list items alike), and the
 * positions only tell lines apart.
 *
 * Chinese, Japanese and Korean fonts are fixed-pitch too, prose and all: a line holding such
 * characters, or set in a fixed-pitch font that sets them elsewhere on the page, is never code.
 *
 * The lines are found as pdf-parse 2.4 finds them (its getPageText, with its default thresholds),
 * so a page reads as it did before but for the code lines' indentation.
 */
import { CODE_INDENT } from '../text/code-lines.js';

/** What this module reads of a pdf.js text item. */
interface PdfTextItem {
  str: string;
  transform: number[];
  width: number;
  height: number;
  fontName: string;
  hasEOL: boolean;
}

/** What this module reads of a pdf.js page. */
export interface PdfPage {
  getViewport(parameters: { scale: number }): { convertToViewportPoint(x: number, y: number): number[] };
  getTextContent(): Promise<{ items: Array<PdfTextItem | { type: string }>; styles: Record<string, { fontFamily?: string }> }>;
}

/** Items further apart vertically than this (points) are on different lines (pdf-parse's lineThreshold). */
const lineThreshold = 4.6;
/** Items of one line further apart than this are cells, separated by a tab (pdf-parse's cellThreshold). */
const cellThreshold = 7;

/** Characters of scripts written without spaces, whose fonts are fixed-pitch (and their punctuation). */
const cjk = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;

interface Line {
  text: string;
  /** Visible characters, and those of them set in a code font. */
  characters: number;
  codeCharacters: number;
}

const newLine = (): Line => ({ text: '', characters: 0, codeCharacters: 0 });
const visible = (text: string): number => text.replace(/\s/gu, '').length;

/** The page's text: lines joined by line breaks, code lines indented (see the top of this file). */
export async function pageText(page: PdfPage): Promise<string> {
  const viewport = page.getViewport({ scale: 1 });
  const content = await page.getTextContent();
  const items = content.items.filter((item): item is PdfTextItem => 'str' in item);
  const cjkFonts = new Set(items.filter((item) => cjk.test(item.str)).map((item) => item.fontName));
  const isCodeFont = (fontName: string) => content.styles[fontName]?.fontFamily === 'monospace' && !cjkFonts.has(fontName);

  const lines: Line[] = [newLine()];
  let lastPiece: string | undefined;
  const append = (piece: string, item?: PdfTextItem) => {
    lastPiece = piece;
    piece.split('\n').forEach((segment, index) => {
      if (index > 0) lines.push(newLine());
      const line = lines[lines.length - 1];
      line.text += segment;
      const characters = visible(segment);
      if (!item) return;
      line.characters += characters;
      if (isCodeFont(item.fontName)) line.codeCharacters += characters;
    });
  };

  // pdf-parse 2.4's line and cell rules, item for item.
  let lastX: number | undefined;
  let lastY: number | undefined;
  let lineHeight = 0;
  for (const item of items) {
    const [x, y] = viewport.convertToViewportPoint(item.transform[4], item.transform[5]);
    let piece = item.str;
    if (lastY !== undefined && Math.abs(lastY - y) > lineThreshold) {
      const startsLine = piece.startsWith('\n') || (piece.trim() === '' && item.hasEOL);
      if (lastPiece?.endsWith('\n') === false && !startsLine && Math.abs(lastY - y) - 1 > lineHeight) {
        append('\n');
        lineHeight = 0;
      }
    }
    if (lastY !== undefined && Math.abs(lastY - y) < lineThreshold && lastX !== undefined && Math.abs(lastX - x) > cellThreshold) piece = `\t${piece}`;
    append(piece, item);
    lastX = x + item.width;
    lastY = y;
    lineHeight = Math.max(lineHeight, item.height);
    if (item.hasEOL) append('\n');
    if (item.hasEOL || piece.endsWith('\n')) lineHeight = 0;
  }
  return render(lines);
}

const isCode = (line: Line): boolean => line.characters > 0 && line.codeCharacters === line.characters && !cjk.test(line.text);

/** The lines as text: code lines indented, the others without leading whitespace. */
function render(lines: Line[]): string {
  const rendered = lines.map((line) => (isCode(line) ? `${CODE_INDENT}${line.text.trim()}` : line.text.trimStart()));
  // Blank lines around the text go, but not the indentation of a code line that starts it.
  return rendered
    .join('\n')
    .replace(/^(?:[^\S\n]*\n)+/u, '')
    .trimEnd();
}
