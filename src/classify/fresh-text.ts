/**
 * What an email itself says, apart from the history it quotes. An answer that quotes the question
 * ("> How do I reset it?") must not read as the question: the classifier judges the fresh text and
 * only counts that history was quoted. Line-based and linear, so a crafted body costs no more than
 * its length (email-reply-parser, which does this job for English, took 21 s on 200 KB of digits).
 */

/** An attribution line that opens quoted history: "On Mon, Anna wrote:", "Le … a écrit :", "Am … schrieb …:". */
const ATTRIBUTION = /(\bwrote|a écrit|schrieb|escribió|ha scritto|escreveu|schreef)\s*:\s*$/i;
/** A separator after which an earlier message follows in full (Outlook, forwarding clients). */
const HISTORY_SEPARATOR = /^\s*(-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale|mensagem original)|from:\s.+\s<?\S+@\S+>?\s*$)/i;

/** Attribution and separator lines are short; a longer line is prose. */
const MAX_MARKER_LINE_CHARS = 200;

/** A signature or footer separator: `-- `, or a rule of dashes or underscores. */
const FOOTER_SEPARATOR = /^\s*(--\s*|[-_=*]{10,}\s*)$/;
/** A footer (signature, list or sponsor block) is short; a separator higher up divides the message itself. */
const MAX_FOOTER_LINES = 25;

/** The email split into what it says, its footer, and how much of it was quoted history. */
export interface FreshText {
  /** The lines written in this email, without quoted history and footer. */
  text: string;
  /** The signature and footer lines at the end of the fresh lines (after `-- ` or a rule), if any. */
  footer: string;
  /** Lines quoted from earlier messages: `>` lines, attributions, and everything after a separator. */
  quotedLines: number;
  /** Non-empty lines in all. */
  lines: number;
}

/** `keepBlankLines`: keep the fresh text's empty lines, which mark its paragraphs (the classifier's features read it without). */
export function freshText(body: string, { keepBlankLines = false } = {}): FreshText {
  const fresh: string[] = [];
  let quotedLines = 0;
  let lines = 0;
  let inHistory = false;
  for (const line of body.split('\n')) {
    if (line.trim() === '') {
      if (keepBlankLines && !inHistory) fresh.push('');
      continue;
    }
    lines += 1;
    if (inHistory || line.trimStart().startsWith('>')) {
      quotedLines += 1;
      continue;
    }
    // Both patterns read the line's start only: a crafted 100 KB line costs no backtracking.
    const start = line.slice(0, MAX_MARKER_LINE_CHARS);
    // An attribution introduces `>` lines, between which an inline reply may answer; a separator
    // introduces an earlier message pasted whole, unmarked, to the end.
    if (ATTRIBUTION.test(start) || HISTORY_SEPARATOR.test(start)) {
      inHistory = HISTORY_SEPARATOR.test(start);
      quotedLines += 1;
      continue;
    }
    fresh.push(line);
  }
  // The earliest separator with a short tail opens the footer: a signature, then a list's blocks.
  const start = fresh.findIndex((line, index) => fresh.length - index <= MAX_FOOTER_LINES + 1 && FOOTER_SEPARATOR.test(line));
  const cut = start < 0 ? fresh.length : start;
  return { text: fresh.slice(0, cut).join('\n'), footer: fresh.slice(cut).join('\n'), quotedLines, lines };
}
