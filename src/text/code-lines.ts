/**
 * How a manual's code survives from the PDF to the reply: a line of commands, code or an example
 * keeps its line, so a customer can copy it as the manual prints it, where the lines of a
 * paragraph are joined into sentences.
 *
 * - In a page's text (src/rag/pdf.ts) and wherever text is shown (a reply, a model's prompt), a
 *   code line is indented by four spaces (Markdown's indented code block, which models and
 *   readers of plain-text email both read as code), and no other line starts with whitespace.
 * - In a chunk's text (src/rag/chunking.ts) a tab starts a code line: it stands for the line break
 *   and the indentation in one character, where the text without code lines had the one space
 *   between two words. The stored text so has the words and the length it had before code lines
 *   were kept, which is what the full-text index ranks by; {@link displayText} shows it.
 */

/** The indentation that marks a code line in shown text. */
export const CODE_INDENT = '    ';

/** The character that starts a code line in a chunk's text. */
export const CODE_BREAK = '\t';

/** Whether a line of shown text (a page's, a reply's) is a code line. */
export function isCodeLine(line: string): boolean {
  return line.startsWith(CODE_INDENT) && line.trim() !== '';
}

/** One line of a chunk's text, and whether it is code. */
export interface ChunkLine {
  text: string;
  code: boolean;
}

/** The lines of a chunk's text (or of a piece of one), trimmed, blank ones left out. */
export function chunkLines(chunkText: string): ChunkLine[] {
  const lines: ChunkLine[] = [];
  let code = false;
  for (const part of chunkText.split(/([\t\n])/u)) {
    if (part === CODE_BREAK || part === '\n') code = part === CODE_BREAK;
    else if (part.trim() !== '') lines.push({ text: part.trim(), code });
  }
  return lines;
}

/** A chunk's text as shown: each code line on a line of its own, indented. */
export function displayText(chunkText: string): string {
  return chunkLines(chunkText)
    .map((line) => (line.code ? `${CODE_INDENT}${line.text}` : line.text))
    .join('\n');
}
