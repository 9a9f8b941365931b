/**
 * How the local model finds the answer in the retrieved passages, lexically and deterministically:
 * the sentence closest to the question is the anchor, and the answer is the anchor with what
 * follows it in its section (the steps, list items or command syntax a matched sentence
 * introduces), because a manual states the topic first and the fix after it.
 */
import { ownWords } from '../../classify/own-words.js';
import type { ContextItem } from '../../pipeline/messages.js';
import { CODE_BREAK } from '../../text/code-lines.js';
import { startsListItem } from '../../text/list-items.js';
import type { EmailText } from './spec.js';

/** Words that carry no topic, left out when matching passages to an email. */
const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could do does did for from had has have hello hi how i if in into is it its ' +
    'me my no not of on or our please so that the their them then there these they this to too us was we were what when ' +
    'where which who why will with would you your yours thanks thank regards dear hey am any just get got also about ' +
    // Verbs too common to tie a sentence to a question on their own.
    'take use need want know like make go see tell let try should one some all'
  ).split(' '),
);

/** The longest quote: a section's steps fit, a whole page does not. */
const MAX_QUOTE_CHARACTERS = 700;
/** A matched sentence this short is a label or a topic line: the sentence after it is quoted too. */
const SHORT_ANCHOR_CHARACTERS = 100;
/** PDF text without full stops is cut into sentences of at most this length. */
const MAX_SENTENCE_CHARACTERS = 320;
/** A subject states the question in a few words: its words count twice, in the match and the confidence. */
const SUBJECT_WEIGHT = 2;
/** How much the words of the sentences after an anchor add to its match, against 1 for its own. */
const REGION_WEIGHT = 0.25;

/** The passage text that answers, and how well. */
export interface Answer {
  /**
   * The quoted sentences, in the order of the manual, with the code lines a sentence holds marked
   * as in a chunk's text (src/text/code-lines.ts: a tab starts a code line, a line break ends it).
   */
  sentences: string[];
  /** 1-based numbers (in the given passages) of the passages the quote comes from, first one first. */
  cited: number[];
  /**
   * Share of the question's content words (subject words counted twice, the sender's name and
   * stopwords left out) that the quote contains, from 0 to 1. A lexical figure: 1 means every
   * topic word of the question appears in the quote, not that the quote is right.
   */
  confidence: number;
}

interface Sentence {
  text: string;
  /**
   * Its length as the quote's length limit counts it: prose that a code block runs into counts up
   * to {@link MAX_SENTENCE_CHARACTERS} with the code, as when such a sentence was shown cut there.
   */
  length: number;
  words: Set<string>;
  /** Index of the passage group (adjacent chunks of a page joined) the sentence belongs to. */
  group: number;
  /** A heading line starts here (known only when the passage text kept its line breaks). */
  startsSection: boolean;
}

/**
 * The best-answering quote in `passages` for `email`, or undefined when no sentence shares a
 * topic word with the question. `ignoredWords` (the sender's name) never count as a match.
 */
export function findAnswer(email: EmailText, passages: ContextItem[], ignoredWords: string[] = []): Answer | undefined {
  const ignored = new Set(ignoredWords.flatMap(contentWords));
  const subjectWords = new Set(contentWords(email.subject).filter((word) => !ignored.has(word)));
  const questionWords = new Set([...subjectWords, ...contentWords(ownWords(email.body)).filter((word) => !ignored.has(word))]);
  const groups = joinAdjacentChunks(passages);
  const sentences = groups.flatMap((group, index) => splitSentences(withoutRunningHeader(group.text, group.first), index));
  // Words shared with the question weigh more the fewer sentences hold them (inverse document
  // frequency), so "firmware" decides the match and "router", present everywhere, barely counts.
  const sentencesWith = new Map<string, number>();
  for (const word of sentences.flatMap((sentence) => [...sentence.words])) sentencesWith.set(word, (sentencesWith.get(word) ?? 0) + 1);
  const questionWeight = (word: string) => (subjectWords.has(word) ? SUBJECT_WEIGHT : 1);
  const weight = (word: string) => questionWeight(word) * Math.log(1 + sentences.length / (sentencesWith.get(word) ?? 1));
  const coverage = (words: Set<string>) => sum([...questionWords].filter((word) => words.has(word)).map(weight));

  let best: { start: number; end: number; rank: number } | undefined;
  sentences.forEach((anchor, start) => {
    const anchorScore = coverage(anchor.words);
    if (anchorScore === 0) return;
    const end = regionEnd(sentences, start, questionWords);
    const regionWords = new Set(sentences.slice(start, end).flatMap((sentence) => [...sentence.words]));
    // The anchor decides; what follows it in the section counts a little, enough to choose between close anchors.
    const rank = Math.round((anchorScore + (coverage(regionWords) - anchorScore) * REGION_WEIGHT) * 1e6);
    if (!best || rank > best.rank) best = { start, end, rank };
  });
  if (!best) return undefined;

  const quoted = sentences.slice(best.start, best.end);
  const quotedWords = new Set(quoted.flatMap((sentence) => [...sentence.words]));
  const total = sum([...questionWords].map(questionWeight));
  const covered = sum([...questionWords].filter((word) => quotedWords.has(word)).map(questionWeight));
  const group = groups[quoted[0].group];
  const cited = group.members.filter((member) => quoted.some((sentence) => flat(passages[member - 1].text).includes(flat(sentence.text).replace(/…$/, ''))));
  return {
    sentences: quoted.map((sentence) => sentence.text),
    cited: cited.length > 0 ? cited : [group.members[0]],
    confidence: total === 0 ? 0 : Math.round((covered / total) * 100) / 100,
  };
}

/**
 * Where the quote that starts at `start` ends (exclusive). It runs on while each sentence shares a
 * word with the question or with the sentence before it (steps of one procedure do), or directly
 * follows a short anchor (a label, "Blinking red: no internet connection.", whose fix comes next);
 * it stops at a heading, at the next item of a list, at the passage end or at the length limit.
 */
function regionEnd(sentences: Sentence[], start: number, questionWords: Set<string>): number {
  const anchor = sentences[start];
  const listLabel = LIST_LABEL.test(anchor.text);
  let length = anchor.length;
  let end = start + 1;
  for (; end < sentences.length; end++) {
    const [previous, next] = [sentences[end - 1], sentences[end]];
    if (next.group !== anchor.group || next.startsSection) break;
    // "Blinking red: …" is followed by its fix, not by "Solid red: …", the next item of the list.
    if (listLabel && LIST_LABEL.test(next.text)) break;
    const related = [...next.words].some((word) => questionWords.has(word) || previous.words.has(word));
    if (!related && !(end === start + 1 && anchor.text.length <= SHORT_ANCHOR_CHARACTERS)) break;
    length += 1 + next.length;
    if (length > MAX_QUOTE_CHARACTERS) break;
  }
  return end;
}

/** A list item that opens with a short label and a colon: `Blinking red: no internet connection.` */
const LIST_LABEL = /^[^:.!?]{1,30}: /u;

/**
 * The passages with adjacent chunks of one page joined (their overlap removed), so a quote can run
 * on from one chunk into the next. `members` are the 1-based passage numbers joined, in text order.
 */
function joinAdjacentChunks(passages: ContextItem[]): Array<{ text: string; first: ContextItem; members: number[] }> {
  const order = passages.map((passage, index) => ({ passage, number: index + 1 }));
  const groups: Array<{ text: string; first: ContextItem; last: ContextItem; members: number[] }> = [];
  for (const { passage, number } of order) {
    const joined = groups.find(
      (group) => group.last.document_id === passage.document_id && group.last.page === passage.page && group.last.chunk_index + 1 === passage.chunk_index,
    );
    if (joined) {
      joined.text = joinOverlapping(joined.text, passage.text);
      joined.last = passage;
      joined.members.push(number);
    } else {
      groups.push({ text: passage.text, first: passage, last: passage, members: [number] });
    }
  }
  return groups;
}

/**
 * `left` then `right`, without the text `right` repeats from the end of `left` (the chunker's
 * overlap). A chunk that starts in a code line starts with the tab that marks the line, which
 * `left` holds before the repeat, so the repeat is looked for without it.
 */
function joinOverlapping(left: string, right: string): string {
  const body = right.trimStart();
  const probe = body.slice(0, 40);
  for (let at = left.lastIndexOf(probe); probe.length > 0 && at >= 0; at = left.lastIndexOf(probe, at - 1)) {
    if (body.startsWith(left.slice(at))) return left.slice(0, at) + body;
    if (at === 0) break;
  }
  return `${left}\n${right}`;
}

/**
 * The text without a running page header the ingester left at its start ("ACME Router X200 User
 * Manual - page 5", "172 gnuplot 5.4"): a light guard, the ingester is where headers go.
 */
function withoutRunningHeader(text: string, passage: ContextItem): string {
  const names = [passage.title, passage.source.replace(/\.[a-z0-9]+$/i, '')].filter((name): name is string => Boolean(name?.trim()));
  // "acme-billing-guide" also matches the header "ACME Billing Guide".
  const name = names
    .map((value) =>
      value
        .trim()
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/[-_\s]+/g, '[-_\\s]+'),
    )
    .join('|');
  // The header names the page: its number before the title ("172 gnuplot") or after it ("… - page 5").
  const header = new RegExp(`^\\s*(?:(?:page\\s+)?${passage.page}\\s+(?:${name})|(?:${name})\\s*[-–—|,]?\\s*page\\s+${passage.page}\\b)[\\s:.-]*`, 'iu');
  let stripped = text.replace(header, '');
  // The section's heading run into its first sentence ("Warranty The ACME Router …") goes too;
  // `section` is the outline path ("III Commands > Fit"), whose last title is the heading.
  const heading = passage.section?.split(' > ').at(-1)?.trim();
  if (heading && stripped.trimStart().toLowerCase().startsWith(`${heading.toLowerCase()} `)) stripped = stripped.trimStart().slice(heading.length);
  // A page number alone also goes ("172 Xtics logscale …"), but not a number the sentence needs ("10 seconds").
  return stripped.replace(new RegExp(`^\\s*(?:page\\s+)?${passage.page}\\s+(?=\\p{Lu})`, 'u'), '');
}

/**
 * The sentences of a passage. A heading on a line of its own (the chunker keeps them so) is not
 * quoted: its words count as words of the section's first sentence, which starts the section.
 *
 * Code lines and list items are read as words of the sentence they stand in, as if joined to it
 * by spaces, so a quote is chosen as it was before the chunker kept their lines; the sentence
 * keeps its line breaks and the marks of its code lines (src/text/code-lines.ts), for the reply to
 * show them line by line.
 */
function splitSentences(text: string, group: number): Sentence[] {
  const lines = linesAsJoined(text);
  let headingWords: string[] = [];
  return lines.flatMap((line, lineIndex) => {
    if (isHeading(line) && lineIndex + 1 < lines.length) {
      headingWords = [...headingWords, ...contentWords(line)];
      return [];
    }
    const section = headingWords.length > 0 || (lineIndex === 0 && isHeading(line));
    const inherited = headingWords;
    headingWords = [];
    return (
      line
        // Not after "(p." of a page reference, nor "e.g." or "i.e.". The space taken by the split
        // goes, the mark of a code line that starts the next sentence stays.
        .split(/(?<=[.!?])(?<!\b(?:p|e\.g|i\.e|etc|vs)\.)(?:[ \n]*(?=\t)|\s+)(?=\s*[\p{Lu}\p{N}"“(])/u)
        .map((sentence) => (/^[ \n]*\t/u.test(sentence) ? CODE_BREAK : '') + sentence.trim())
        .filter((sentence) => /\p{L}{2}/u.test(sentence))
        .map((sentence, index) => ({
          text: shorten(sentence),
          length: cut(sentence).length,
          words: new Set([...contentWords(sentence), ...(index === 0 ? inherited : [])]),
          group,
          startsSection: section && index === 0,
        }))
    );
  });
}

/**
 * The passage's lines, with the line breaks the chunker puts after a code line and before a list
 * item inside a line, as the text was one line before it kept them.
 */
function linesAsJoined(text: string): string[] {
  const lines: string[] = [];
  let afterCode = false;
  for (const line of text.split(/\n+/)) {
    if (lines.length > 0 && (afterCode || startsListItem(line))) lines[lines.length - 1] += `\n${line}`;
    else lines.push(line);
    afterCode = line.includes(CODE_BREAK);
  }
  return lines;
}

/** A line that reads like a heading: short, no sentence punctuation at its end. */
function isHeading(line: string): boolean {
  const text = line.trim();
  return text.length > 0 && text.length <= 80 && !/[.!?:;,]$/.test(text);
}

/**
 * The sentence cut to {@link MAX_SENTENCE_CHARACTERS}, each run of prose on its own: the prose a
 * code block runs into ("Syntax: <code> In contrast to …", no full stop between them) is a
 * sentence of the manual that is quoted whole or cut at its own length, not cut off after the code.
 */
function shorten(sentence: string): string {
  const runs = sentence.split(/(?<=\t[^\t\n]*\n)/u).map((run) => (run.endsWith('\n') ? `${cut(run.slice(0, -1))}\n` : cut(run)));
  // A list of examples ("To do this, use: <code> To do that, use: <code> …") is one sentence to
  // the splitter: it is quoted up to the quote's limit, a whole example at a time, and never ends
  // on an example's introduction whose code was left out (or lay beyond the passage).
  const kept = [runs[0]];
  let length = runs[0].length;
  for (const run of runs.slice(1)) {
    if (length + run.length > MAX_QUOTE_CHARACTERS) break;
    kept.push(run);
    length += run.length;
  }
  if (kept.length > 1 && !kept.at(-1)!.includes(CODE_BREAK) && /[,:]\s*$/u.test(kept.at(-1)!)) kept.pop();
  return kept.join('').replace(/\n$/u, '');
}

function cut(sentence: string): string {
  if (sentence.length <= MAX_SENTENCE_CHARACTERS) return sentence;
  const cut = sentence.slice(0, MAX_SENTENCE_CHARACTERS);
  return `${cut.slice(0, Math.max(cut.search(/\s\S*$/u), 1))}…`;
}

function flat(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Lower-cased words without stopwords, with plural and verb endings trimmed so "resetting" meets "reset". */
export function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((word) => !STOPWORDS.has(word) && word.length > 1).map(stem);
}

/** Trims plural and verb endings: "updates", "updating" and "update" all become "updat". */
function stem(word: string): string {
  let root = word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
  const ending = ['ing', 'ed'].find((suffix) => root.endsWith(suffix) && root.length - suffix.length >= 3);
  if (ending) root = root.slice(0, -ending.length);
  if (root.length > 3 && root.endsWith('e')) root = root.slice(0, -1);
  // "resetting" → "resett" → "reset", and "installed" meets "install".
  return root.length > 3 && root.at(-1) === root.at(-2) ? root.slice(0, -1) : root;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
