/**
 * The embedded language model: no keys, no network, same input → same output. It classifies with
 * the rule tables of local-classifier.ts and replies by quoting the retrieved passages, so it can never
 * say anything the documentation does not say, nor obey instructions hidden in an email.
 */
import type { ContextItem } from '../../messaging/schemas.js';
import { classifyByRules } from './local-classifier.js';
import type { CallOptions, EmailText, LanguageModel, ModelResult, ReplyInput, TokenUsage } from './spec.js';

/** Words that carry no topic, left out when matching passages to an email. */
const STOPWORDS = new Set(
  ('a an and are as at be been but by can could do does did for from had has have hello hi how i if in into is it its ' +
    'me my no not of on or our please so that the their them then there these they this to too us was we were what when ' +
    'where which who why will with would you your yours thanks thank regards dear hey am any just get got also about ' +
    // Verbs too common to tie a sentence to a question on their own.
    'take use need want know like make go see tell let try should one some all')
    .split(' '),
);

/** The reply when the documentation has nothing to quote (DESIGN.md §7: hand off, never invent). */
const HANDOFF_REPLY =
  'Hello,\n\nThank you for your message. We could not find the answer in our product documentation, ' +
  'so a member of our support team will get back to you.\n\nThis message was sent automatically.';

const MAX_QUOTED_SENTENCES = 4;
const MAX_PASSAGES_READ = 3;
/** Long enough for a documentation sentence; PDF text without full stops is cut here. */
const MAX_QUOTE_CHARACTERS = 320;

/** Options of {@link createLocalModel}. */
export interface LocalModelOptions {
  /** Model name reported in results and events. Default `local-rules-v1`. */
  name?: string;
}

/** Creates the deterministic local model (provider `local`). */
export function createLocalModel(options: LocalModelOptions = {}): LanguageModel {
  const provider = 'local';
  const model = options.name ?? 'local-rules-v1';
  const result = <T>(value: T, usage: TokenUsage, startedAt: number): ModelResult<T> =>
    ({ value, provider, model, usage, latency_ms: performance.now() - startedAt });
  return {
    provider,
    model,
    async classify(email: EmailText, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const value = classifyByRules(email);
      const usage = { input_tokens: countWords(`${email.from} ${email.subject} ${email.body}`), output_tokens: countWords(value.reasoning) };
      return result(value, usage, startedAt);
    },
    async reply(input: ReplyInput, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const body = extractiveReply(input);
      const inputText = [input.email.subject, input.email.body, ...input.passages.map((passage) => passage.text)].join(' ');
      return result({ body }, { input_tokens: countWords(inputText), output_tokens: countWords(body) }, startedAt);
    },
  };
}

function extractiveReply({ email, passages }: ReplyInput): string {
  const emailWords = new Set(contentWords(`${email.subject} ${email.body}`));
  const candidates = passages.slice(0, MAX_PASSAGES_READ).flatMap((passage, passageRank) =>
    splitSentences(passage.text).map((text, position) => ({ text, passage, passageRank, position, words: new Set(contentWords(text)) })),
  );
  // Words shared with the question weigh more the fewer sentences hold them (inverse document
  // frequency), so "firmware" decides the match and "router", present everywhere, barely counts.
  const sentencesWith = new Map<string, number>();
  for (const word of candidates.flatMap((sentence) => [...sentence.words])) sentencesWith.set(word, (sentencesWith.get(word) ?? 0) + 1);
  const weight = (word: string) => Math.log(1 + candidates.length / (sentencesWith.get(word) ?? 1));
  const scored = candidates.map((sentence) => {
    const shared = [...sentence.words].filter((word) => emailWords.has(word)).sort();
    return { ...sentence, score: Math.round(sum(shared.map(weight)) * 1e6) / 1e6 };
  });
  // Quote only sentences more than half as close to the question as the closest one.
  const bestScore = Math.max(0, ...scored.map((sentence) => sentence.score));
  const chosen = scored
    .filter((sentence) => sentence.score > 0 && sentence.score * 2 > bestScore)
    // On a tie the fuller sentence wins over a heading that merely repeats the question's words.
    .sort((a, b) => b.score - a.score || a.passageRank - b.passageRank || b.words.size - a.words.size || a.position - b.position)
    .slice(0, MAX_QUOTED_SENTENCES);
  // Nothing in the passages touches the question: hand off rather than quote something unrelated.
  if (chosen.length === 0) return HANDOFF_REPLY;
  const citation = (passage: ContextItem) => `"${passage.source}", page ${passage.page}`;
  const sources = [...new Set(chosen.map((sentence) => citation(sentence.passage)))];
  return [
    'Hello,',
    '',
    'Here is what our product documentation says about your question:',
    '',
    ...chosen.map((sentence) => `- "${sentence.text}" (${citation(sentence.passage)})`),
    '',
    'Sources:',
    ...sources.map((source) => `- ${source}`),
    '',
    'This reply was prepared automatically from our product documentation. If it does not answer your question, ' +
      'reply to this email and a member of our support team will help you.',
  ].join('\n');
}

function splitSentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+(?=[A-Z0-9"“(])/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => /[a-z]{2}/i.test(sentence))
    .map((sentence) => {
      if (sentence.length <= MAX_QUOTE_CHARACTERS) return sentence;
      const cut = sentence.slice(0, MAX_QUOTE_CHARACTERS);
      return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 1))}…`;
    });
}

/** Lower-cased words without stopwords, with plural and verb endings trimmed so "resetting" meets "reset". */
function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((word) => !STOPWORDS.has(word) && word.length > 1).map(stem);
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

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
