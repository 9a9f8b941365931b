/**
 * Readable text of an HTML body, for HTML-only emails: words and line breaks, not layout.
 * htmlparser2's tokenizer reads the markup in one pass (entities decoded), so a crafted body
 * (400 KB of `<`, unclosed comments, endless attributes) costs linear time, unlike patterns over
 * the raw HTML.
 */
import { Parser } from 'htmlparser2';

/** Longest HTML read, in characters: the tokenizer is linear, this bounds its time and memory too. */
const MAX_HTML_CHARS = 2 * 1024 * 1024;

/** Elements whose content is not text for a reader. */
const SKIPPED = new Set(['head', 'style', 'script', 'template']);
/** Elements that end a paragraph (a blank line after them). */
const PARAGRAPH_ENDS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'ul', 'ol', 'blockquote']);
/** Elements that end a line. */
const LINE_ENDS = new Set(['div', 'tr']);

/**
 * The text of `html`: paragraphs and headings end in a blank line, `br`, `div` and `tr` in a line
 * break, list items start with `- `; runs of spaces collapse; scripts, styles and comments go.
 *
 * @param maxChars Stop collecting text past this many characters (default: no limit).
 */
export function htmlToText(html: string, maxChars = Number.POSITIVE_INFINITY): string {
  const pieces: string[] = [];
  let length = 0;
  let skippedDepth = 0;
  const add = (text: string) => {
    if (length >= maxChars) return;
    pieces.push(text);
    length += text.length;
  };
  const parser = new Parser(
    {
      onopentag(name) {
        if (SKIPPED.has(name)) skippedDepth += 1;
        else if (skippedDepth > 0) return;
        else if (name === 'br') add('\n');
        else if (name === 'li') add('\n- ');
      },
      onclosetag(name) {
        if (SKIPPED.has(name)) skippedDepth = Math.max(0, skippedDepth - 1);
        else if (skippedDepth > 0) return;
        else if (PARAGRAPH_ENDS.has(name)) add('\n\n');
        else if (LINE_ENDS.has(name)) add('\n');
      },
      ontext(text) {
        if (skippedDepth === 0) add(text);
      },
    },
    { decodeEntities: true },
  );
  parser.end(html.length > MAX_HTML_CHARS ? html.slice(0, MAX_HTML_CHARS) : html);
  // Each pattern below is linear: no two quantifiers compete for the same characters.
  return pieces
    .join('')
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
