/**
 * The search query of an email: its subject, then what its sender wrote for this message
 * (src/classify/own-words.ts). Quoted history, the signature, the greeting, the closing and a
 * mailing list's footer are words about something else, and in a lexical query every word pulls
 * towards pages that hold it.
 */
import { ownWords } from '../classify/own-words.js';
import { BODY_CUT_NOTE } from './model-input.js';

/** Reply and forward prefixes of a subject, in the languages mail clients commonly use. */
const SUBJECT_PREFIX = /^\s*((re|fwd?|aw|wg|sv|vs|tr|rv|antw)\s*(\[\d+\])?\s*:\s*)+/i;

/**
 * The text to search the manuals with for an email. The note model-input.ts puts at the end of a
 * cut body is ours, not the sender's: its words ("rest", "email", "cut", "read") would be searched
 * for and, found in no manual, lower the relevance of every passage below the threshold.
 */
export function emailQuery(email: { subject: string; body: string }): string {
  const subject = email.subject.replace(SUBJECT_PREFIX, '').trim();
  const body = email.body.endsWith(BODY_CUT_NOTE) ? email.body.slice(0, -BODY_CUT_NOTE.length) : email.body;
  return [subject, ownWords(body)].filter((part) => part !== '').join('\n');
}
