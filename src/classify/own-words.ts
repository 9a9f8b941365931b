/**
 * What the sender of an email wrote for this message: its fresh text (src/classify/fresh-text.ts)
 * without the greeting, the closing, a signature block or a mailing list's footer. The search
 * query of an email (src/rag/email-query.ts) and the local model's reading of the question
 * (src/providers/llm/local-answer.ts) both start from it.
 */
import { freshText } from './fresh-text.js';

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
