/**
 * The search query of an email: its subject, then what its sender wrote for this message. Quoted
 * history, the signature, the greeting, the closing and a mailing list's footer are words about
 * something else, and in a lexical query every word pulls towards pages that hold it.
 */
import { freshText } from '../classify/fresh-text.js';
import { BODY_CUT_NOTE } from './model-input.js';

/** Reply and forward prefixes of a subject, in the languages mail clients commonly use. */
const SUBJECT_PREFIX = /^\s*((re|fwd?|aw|wg|sv|vs|tr|rv|antw)\s*(\[\d+\])?\s*:\s*)+/i;

/**
 * A first line that only greets, in English, French, German and Spanish (the languages replies are
 * framed in, with Japanese, whose greetings are set phrases): "Hi team,", "Bonjour à toute
 * l'équipe,", "Sehr geehrte Damen und Herren,", "Hola Ana:", "お世話になっております。".
 */
const GREETING = new RegExp(
  String.raw`^\s*(` +
    [
      'hi',
      'hello',
      'hey',
      'dear',
      'good (morning|afternoon|evening)',
      'greetings',
      'bonjour',
      'bonsoir',
      'salut',
      'madame',
      'monsieur',
      'ch[eè]re?s?',
      'hallo',
      'guten (tag|morgen|abend)',
      'sehr geehrte[rs]?',
      'liebe[rs]?',
      'hola',
      'buen[oa]s (d[ií]as|tardes|noches)',
      'estimad[oa]s?',
    ].join('|') +
    String.raw`)(?![\p{L}\p{N}])[^.?\n]{0,40}[,!:]?\s*$|^\s*(いつも)?お世話になって[^\n]{0,12}$|^\s*こんにちは[。！]?\s*$`,
  'iu',
);

/** A line that closes the message, in the same languages; it and everything after it are left out. */
const CLOSING = new RegExp(
  String.raw`^\s*(` +
    [
      'thanks?( you)?( (so|very) much)?( in advance)?',
      'many thanks',
      'regards',
      '(best|kind|warm) (regards|wishes)',
      'best',
      'cheers',
      'sincerely',
      'yours( (truly|sincerely))?',
      "merci( (d['’]avance|beaucoup|par avance))?",
      'cordialement',
      'bien (à vous|cordialement)',
      'salutations( distinguées)?',
      'bonne (journée|soirée)',
      '(mit )?(freundliche[nm]?|beste[nm]?|herzliche[nm]?|viele[nm]?|liebe) grü(ß|ss)en?',
      'danke( (schön|sehr|im voraus))?',
      'vielen dank( im voraus)?',
      '(muchas )?gracias( (de antemano|por adelantado))?',
      '(un )?(cordial )?saludos?( cordiales)?',
      'atentamente',
    ].join('|') +
    String.raw`)(?![\p{L}\p{N}])[^.?!\n]{0,30}[,!.]?\s*$|^\s*(よろしく|宜しく)[^\n]{0,20}$`,
  'iu',
);

/** How far from the end a closing line may be: a short sign-off, not a "Thanks!" mid-message. */
const CLOSING_WINDOW_LINES = 6;

/** A separator line of a mailing list footer ("____", "-----"), when the text after it says so. */
const FOOTER_RULE = /^\s*[_-]{5,}\s*$/;
const FOOTER_WORDS = /unsubscribe|mailing list|listinfo|list-/i;

/** What the sender wrote for this message, without quoted history, signature, greeting, closing or list footer. */
export function ownWords(body: string): string {
  let lines = freshText(body.replace(/\r\n?/g, '\n'), { keepBlankLines: true }).text.split('\n');
  const rule = lines.findIndex((line, index) => FOOTER_RULE.test(line) && FOOTER_WORDS.test(lines.slice(index + 1).join('\n')));
  if (rule >= 0) lines = lines.slice(0, rule);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  const closing = lines.findIndex((line, index) => index >= lines.length - CLOSING_WINDOW_LINES && CLOSING.test(line));
  if (closing > 0) lines = lines.slice(0, closing);
  else lines = withoutSignatureBlock(lines);
  const first = lines.findIndex((line) => line.trim() !== '');
  if (first >= 0 && GREETING.test(lines[first])) lines.splice(first, 1);
  return lines.join('\n').trim();
}

/** A sign-off block without a closing line: "Marcus Bell / Bell Bakery" under the last paragraph. */
const SIGNATURE_LINE = /^\s*[^\s.?!:;,][^.?!:;]{0,40}\s*$/;
const MAX_SIGNATURE_LINES = 3;
const MAX_SIGNATURE_WORDS = 5;

/** The lines without a last paragraph that only names its sender (a few short lines, no sentence). */
function withoutSignatureBlock(lines: string[]): string[] {
  const blank = lines.map((line) => line.trim()).lastIndexOf('');
  const block = lines.slice(blank + 1);
  const isSignature =
    blank > 0 &&
    block.length <= MAX_SIGNATURE_LINES &&
    block.every((line) => SIGNATURE_LINE.test(line) && line.trim().split(/\s+/).length <= MAX_SIGNATURE_WORDS);
  return isSignature ? lines.slice(0, blank) : lines;
}

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
