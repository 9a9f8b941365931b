/**
 * What an email itself says, apart from the history it quotes. An answer that quotes the question
 * ("> How do I reset it?") must not read as the question: the classifier judges the fresh text and
 * only counts that history was quoted. Line-based and linear, so a crafted body costs no more than
 * its length (email-reply-parser, which does this job for English, took 21 s on 200 KB of digits).
 */

/**
 * An attribution line that opens quoted history: "On Mon, Anna wrote:", "Le … a écrit :", "Am … schrieb …:",
 * news and list clients' "Anna <anna@example.com> writes:", "In message <…>, Anna writes:", and a
 * line that names an address and ends in a bracket and a colon ("Quoting Anna <anna@…>:", mutt's
 * "* Anna <anna@…> [2002-08-01]:", Gmail's Japanese "2024年1月1日(月) 9:00 Anna <anna@…>:"); a
 * sentence that merely ends in a colon after an address stays prose.
 */
const ATTRIBUTION =
  /(\bwrote|\bwrites|a écrit|écrit|schrieb|schreibt|escribió|escribe|ha scritto|scrive|escreveu|escreve|schreef|書きました|写道)\s*[:：]\s*$|\S@[\w.-]+\.\w+\b.*[>)\]]\s*[:：]\s*$/i;
/**
 * The first line of an attribution that the client wrapped ("On Mon, 1 Jan 2024 at 09:00, Anna <" /
 * "anna@example.com> wrote:"): an opening word, then a date or time somewhere on the line.
 */
const ATTRIBUTION_OPENING = /^\s*(on|le|am|el|il|em|op)\s.*\d/i;
/** A separator after which an earlier message follows in full (Outlook, forwarding clients). */
const HISTORY_SEPARATOR =
  /^\s*(-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|original nachricht|weitergeleitete nachricht|message d'origine|message transféré|mensaje original|mensaje reenviado|messaggio originale|messaggio inoltrato|mensagem original|mensagem encaminhada|oorspronkelijk bericht|元のメッセージ|原始邮件)|begin forwarded message\s*:|from:\s.+\s<?\S+@\S+>?\s*$)/i;
/**
 * The first line of a quoted header block (Outlook's "From: Anna / Sent: … / To: … / Subject: …", in
 * the languages of the corpus), which pastes the earlier message below it unmarked; it counts only
 * when one of the next lines is another such header, so a sentence starting "From:" stays prose.
 */
const HEADER_FROM = /^\s*\*?(from|von|de|da|van|差出人|发件人|寄件者)\s*\*?\s*[:：]\s*\S/i;
const HEADER_OTHER =
  /^\s*\*?(sent|date|to|cc|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado|fecha|para|asunto|inviato|data|a|oggetto|enviada|assunto|verzonden|aan|onderwerp|送信日時|日付|宛先|件名|发送时间|收件人|主题)\s*\*?\s*[:：]/i;
/** How many lines after a "From:" line the next header of its block may come. */
const HEADER_BLOCK_LOOKAHEAD = 3;

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
  const bodyLines = body.split('\n');
  bodyLines.forEach((line, index) => {
    if (line.trim() === '') {
      if (keepBlankLines && !inHistory) fresh.push('');
      return;
    }
    lines += 1;
    if (inHistory || line.trimStart().startsWith('>')) {
      quotedLines += 1;
      return;
    }
    // Every pattern reads the line's start only: a crafted 100 KB line costs no backtracking.
    const start = line.slice(0, MAX_MARKER_LINE_CHARS);
    // An attribution introduces `>` lines, between which an inline reply may answer; a separator
    // or a quoted header block introduces an earlier message pasted whole, unmarked, to the end.
    const opensHistory = HISTORY_SEPARATOR.test(start) || isHeaderBlock(bodyLines, index);
    if (!opensHistory && !(line.length <= MAX_MARKER_LINE_CHARS && ATTRIBUTION.test(start) && introducesQuote(bodyLines, index))) {
      fresh.push(line);
      return;
    }
    inHistory = opensHistory;
    quotedLines += 1;
    // What introduces the history belongs to it: the start of an attribution the client wrapped
    // onto the line above, the rule Outlook draws above a header block.
    const above = fresh.length - 1;
    if (above < 0 || bodyLines[index - 1] !== fresh[above]) return;
    const wrappedAttribution = !ATTRIBUTION_OPENING.test(start) && ATTRIBUTION_OPENING.test(fresh[above]) && fresh[above].length <= MAX_MARKER_LINE_CHARS;
    if (wrappedAttribution || (opensHistory && FOOTER_SEPARATOR.test(fresh[above]))) {
      fresh.pop();
      quotedLines += 1;
    }
  });
  // The earliest separator with a short tail opens the footer: a signature, then a list's blocks.
  const start = fresh.findIndex((line, index) => fresh.length - index <= MAX_FOOTER_LINES + 1 && FOOTER_SEPARATOR.test(line));
  const cut = start < 0 ? fresh.length : start;
  return { text: fresh.slice(0, cut).join('\n'), footer: fresh.slice(cut).join('\n'), quotedLines, lines };
}

/**
 * An attribution is one when it names an address or `>` lines follow it: "The agent said:" or
 * "Der Techniker schreibt:" in a customer's own story introduces no quoted history.
 */
function introducesQuote(bodyLines: string[], index: number): boolean {
  if (/\S@[\w.-]+\.\w/.test(bodyLines[index].slice(0, MAX_MARKER_LINE_CHARS))) return true;
  const next = bodyLines.slice(index + 1).find((line) => line.trim() !== '');
  return next !== undefined && next.trimStart().startsWith('>');
}

/**
 * A "From:" line that names an address or is followed closely by two other header lines (To and
 * Subject, Sent and To…): the top of a quoted message. "From: port 8080 / To: port 80" is prose.
 */
function isHeaderBlock(bodyLines: string[], index: number): boolean {
  const first = bodyLines[index].slice(0, MAX_MARKER_LINE_CHARS);
  if (!HEADER_FROM.test(first)) return false;
  const headers = new Set(
    bodyLines
      .slice(index + 1, index + 1 + HEADER_BLOCK_LOOKAHEAD)
      .map((line) => HEADER_OTHER.exec(line.slice(0, MAX_MARKER_LINE_CHARS))?.[1]?.toLowerCase())
      .filter((name) => name !== undefined),
  );
  return headers.size >= (/\S@[\w.-]+\.\w/.test(first) ? 1 : 2);
}
