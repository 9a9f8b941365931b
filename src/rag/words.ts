/**
 * The words of a text that carry its topic, as the reply check and the local model's answer both
 * compare them: lower-cased letters and digits, English stopwords and pleasantries left out, the
 * rest stemmed (Porter, npm `stemmer`) so that "resetting" meets "reset".
 */
import { stemmer } from 'stemmer';
import { eng as englishStopwords } from 'stopword';

const STOPWORDS = new Set([
  ...englishStopwords, 'also', 'can', 'may', 'will', 'just', 'please', 'thanks', 'thank', 'hello', 'hi', 'dear', 'regards', 'hey',
  // Verbs too common to tie a sentence to a question on their own.
  'take', 'use', 'need', 'want', 'know', 'like', 'make', 'go', 'see', 'tell', 'let', 'try', 'one', 'some', 'all',
]);

/** Lower-cased, stemmed words that carry meaning. */
export function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])
    .filter((word) => (word.length > 1 || /\d/.test(word)) && !STOPWORDS.has(word))
    .map((word) => stemmer(word));
}
