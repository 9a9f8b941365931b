/**
 * Checks a generated reply against the passages it was written from, before anyone decides to send
 * it: every citation names a passage that exists, every claim cites a passage (a sentence without
 * a citation is covered by one later in its paragraph), each claim's words are found in the
 * passages it cites, and no address, link or phone number appears that the passages do not hold.
 * The support test is lexical (shared content words, stemmed): it cannot tell a paraphrase from a
 * fabrication that reuses the manual's words, but it catches a claim the passages never make.
 */
import { stemmer } from 'stemmer';
import { eng as englishStopwords } from 'stopword';
import type { ContextItem } from '../pipeline/messages.js';
import type { ReplyVerdict } from '../providers/llm/spec.js';
import { citationLabel, MARKER_GROUP, markerNumbers } from '../providers/llm/citations.js';

/** What the check found. */
export interface ReplyCheck {
  /** Why the reply cannot go out unread; empty when it passed. */
  problems: string[];
  /** Passages (1-based) the reply cites, in order. */
  cited: number[];
  /** Sentences that state something and were checked. */
  claims: number;
  /** Share of the question's content words found in the passages the reply cites, 0 to 1. */
  coverage: number;
}

/** Options of {@link checkReply}. */
export interface ReplyCheckOptions {
  /** The question, for the coverage figure. */
  question: { subject: string; body: string };
  /** The model's verdict, whose cited numbers must name passages too. */
  verdict?: ReplyVerdict;
  /** Share of a claim's content words its cited passages must hold, 0 to 1. */
  minSupport: number;
  /** Text the responder itself adds (the signature): not a claim, and its links are allowed. */
  ownText?: string;
  /** Sentences of the mailbox's own framing in the reply's language (introduction, closing): no claims. */
  frame?: string[];
  /**
   * ISO 639-1 code of the reply's language. The greetings and closings that are no claim are known
   * in English only: in another language every uncited sentence of three words or more that is not
   * in `frame` is a claim without a citation.
   */
  language?: string;
}

const STOPWORDS = new Set([...englishStopwords, 'also', 'can', 'may', 'will', 'just', 'please', 'thanks', 'thank', 'hello', 'hi', 'dear', 'regards']);

/** Lower-cased, stemmed words that carry meaning ("resetting" and "reset" meet). */
export function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])
    .filter((word) => (word.length > 1 || /\d/.test(word)) && !STOPWORDS.has(word))
    .map((word) => stemmer(word));
}

/**
 * Sentences that are no claim: greetings and closings, the note that the reply was written
 * automatically, and "the manuals do not say, a person will follow up".
 */
const NOT_A_CLAIM = [
  /^(hello|hi|dear|good (morning|afternoon|evening))\b/i,
  /\b(kind|best|warm) regards\b|\bsincerely\b|\bthank you for (your|contacting|reaching)/i,
  /\b(prepared|written|generated) automatically\b|\bautomatically (prepared|written|generated)\b/i,
  /\b(support team|member of (our|the) team|a person|a colleague)\b.*\b(follow up|get back|help|contact)/i,
  /\b(i|we) (do not|don't|cannot|can't|could not|couldn't) (know|find|answer|say)\b/i,
  /\b(documentation|manuals?|passages) (do|does) not (answer|cover|say|mention)\b/i,
];

/** Email addresses, links and phone numbers: what an injected instruction most often asks a reply to carry. */
const CONTACT_DETAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)+|\bhttps?:\/\/[^\s)>\]]+|\bwww\.[^\s)>\]]+|\+?\d[\d ().-]{7,}\d/gi;

/**
 * A bare domain ("evil-support.com"), which mail clients turn into a link: letters, digits and
 * hyphens in dot-separated labels ending in a top-level domain. Bounded labels keep it linear.
 */
const BARE_DOMAIN = /(?<![\p{L}\d@./-])[\p{L}\d-]{1,63}(?:\.[\p{L}\d-]{1,63}){0,4}\.[a-z]{2,24}(?![\p{L}\d-])/giu;

/** A citation written out, `"<something>", page N`, whether or not it names a passage. */
const WRITTEN_CITATION = /"([^"\n]{1,200})",\s*page\s+(\d+)/g;

/** Marks each citation in the text as `⟦n⟧` (n the passage number, 0 for none) and lists the unknown ones. */
function markCitations(text: string, passages: ContextItem[]): { marked: string; unknown: string[] } {
  const unknown: string[] = [];
  const labels = new Map<string, number>();
  passages.forEach((passage, index) => {
    for (const label of [citationLabel(passage), citationLabel({ ...passage, title: undefined })]) if (!labels.has(label)) labels.set(label, index + 1);
  });
  const byLabel = text.replace(WRITTEN_CITATION, (label) => {
    const number = labels.get(label.replace(/,\s*page\s+/, ', page '));
    if (number === undefined) unknown.push(label);
    return ` ⟦${number ?? 0}⟧ `;
  });
  // The reply is checked as the customer reads it: every [n] naming a passage was written out
  // (citations.ts), so one left names none — unless it is text quoted from a manual, such as R's
  // "[1] FALSE", which a number in range is taken for.
  const marked = byLabel.replace(MARKER_GROUP, (group, inside: string) => {
    const numbers = markerNumbers(inside);
    if (numbers.every((number) => number >= 1 && number <= passages.length)) return group;
    unknown.push(...numbers.filter((number) => number < 1 || number > passages.length).map((number) => `[${number}]`));
    return ' ⟦0⟧ ';
  });
  return { marked, unknown };
}

const citedIn = (text: string) => [...text.matchAll(/⟦(\d+)⟧/g)].map((match) => Number(match[1])).filter((number) => number > 0);

/**
 * Paragraphs and list items, each split into sentences. A block of code lines (src/text/code-lines.ts)
 * belongs to the paragraph around it, whose citation covers it, though blank lines set it apart;
 * its lines are no list items.
 */
function sentencesByParagraph(text: string): string[][] {
  return text
    .split(/(?<!^ {4}[^\n]*)\n(?:[^\S\n]*\n)+(?! {4})|\n(?! {4})(?=\s*(?:[-*•]|\d+[.)])\s)/m)
    .map((paragraph) => paragraph.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .map((paragraph) =>
      paragraph
        .split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}"“(⟦])/u)
        .map((sentence) => sentence.trim())
        .filter(Boolean),
    );
}

const preview = (sentence: string) => {
  const clean = sentence
    .replace(/\s*⟦\d+⟧\s*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return JSON.stringify(clean.length > 80 ? `${clean.slice(0, 80)}…` : clean);
};

const squeezeText = (value: string) => value.toLowerCase().replace(/\s+/g, ' ').trim();

/** Checks `body` against `passages` (see the top of this file). */
export function checkReply(body: string, passages: ContextItem[], options: ReplyCheckOptions): ReplyCheck {
  const problems: string[] = [];
  const ownText = options.ownText?.trim() ?? '';
  const text = ownText && body.trimEnd().endsWith(ownText) ? body.trimEnd().slice(0, -ownText.length) : body;
  const { marked, unknown } = markCitations(text, passages);
  const wrongVerdict = (options.verdict?.cited ?? []).filter((number) => !Number.isInteger(number) || number < 1 || number > passages.length);
  for (const citation of [...new Set([...unknown, ...wrongVerdict.map((number) => `[${number}]`)])]) {
    problems.push(`cites ${citation}, which is not one of the ${passages.length} passages given`);
  }

  const wordsOf = new Map<number, Set<string>>();
  const passageWords = (number: number) => {
    let words = wordsOf.get(number);
    if (!words) wordsOf.set(number, (words = new Set(contentWords(passages[number - 1]!.text))));
    return words;
  };
  const cited = new Set<number>();
  let claims = 0;
  const english = !options.language || options.language === 'en' || options.language === 'und';
  const frame = squeezeText((options.frame ?? []).join('\n'));
  const framed = (sentence: string) => frame.includes(squeezeText(sentence.replace(/⟦\d+⟧/g, '')));
  const paragraphs = sentencesByParagraph(marked);
  const wordsOfSentence = (sentence: string) => contentWords(sentence.replace(/⟦\d+⟧/g, '').replace(CONTACT_DETAIL, ''));
  // "Source: [1]" under a quoted block: a paragraph of citations and at most a heading word cites the one above it.
  const citesOnly = (paragraph: string[]) => paragraph.some((sentence) => citedIn(sentence).length > 0) && wordsOfSentence(paragraph.join(' ')).length <= 1;
  paragraphs.forEach((paragraph, index) => {
    const below = paragraphs[index + 1];
    const paragraphCites = [...new Set([...paragraph.flatMap(citedIn), ...(below && citesOnly(below) ? below.flatMap(citedIn) : [])])];
    for (const sentence of paragraph) {
      const own = citedIn(sentence);
      own.forEach((number) => cited.add(number));
      const words = wordsOfSentence(sentence);
      // In another language the greetings and closings are not known: an uncited sentence that is
      // not the mailbox's own framing counts as a claim, so a translated reply is a draft unless it cites.
      const isClaim =
        own.length > 0
          ? words.length > 1
          : words.length >= 3 && !framed(sentence) && !/:\s*$/.test(sentence) && (!english || !NOT_A_CLAIM.some((pattern) => pattern.test(sentence)));
      if (!isClaim) continue;
      claims += 1;
      const sources = own.length > 0 ? own : paragraphCites;
      if (sources.length === 0) {
        problems.push(`claim without a citation: ${preview(sentence)}`);
        continue;
      }
      const supported = new Set(sources.flatMap((number) => [...passageWords(number)]));
      const share = words.filter((word) => supported.has(word)).length / words.length;
      if (share < options.minSupport) {
        problems.push(`claim not supported by the passages it cites (${Math.round(share * 100)}% of its words): ${preview(sentence)}`);
      }
    }
  });

  const squeeze = squeezeText;
  const allowed = squeeze(`${passages.map((passage) => `${passage.text} ${passage.url ?? ''} ${passage.source}`).join(' ')} ${ownText}`);
  for (const domain of new Set(marked.replace(CONTACT_DETAIL, ' ').match(BARE_DOMAIN) ?? [])) {
    if (!allowed.includes(squeeze(domain))) problems.push(`contains ${JSON.stringify(domain)}, which the passages do not hold`);
  }
  for (const detail of new Set(text.match(CONTACT_DETAIL) ?? [])) {
    // A run of digits and dots is a phone number only when long enough: "version 5.4 (2020)" is not one.
    const isPhoneLike = !/[@/]|www\./i.test(detail);
    if (isPhoneLike && (detail.match(/\d/g) ?? []).length < 8) continue;
    if (!allowed.includes(squeeze(detail))) problems.push(`contains ${JSON.stringify(detail)}, which the passages do not hold`);
  }

  const questionWords = [...new Set(contentWords(`${options.question.subject} ${options.question.body}`))];
  const citedWords = new Set([...cited].flatMap((number) => [...passageWords(number)]));
  const coverage = questionWords.length ? questionWords.filter((word) => citedWords.has(word)).length / questionWords.length : 0;
  return { problems, cited: [...cited].sort((a, b) => a - b), claims, coverage };
}
