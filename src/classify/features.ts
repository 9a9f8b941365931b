/**
 * The evidence the support classifier weighs: the words of what the email itself says, and its
 * structure (a reply or a first message, quoted history, links, a list or marketing footer, shouting).
 * Words generalise poorly across products and languages on their own; structure tells a newsletter
 * full of questions, a digest or an answer that quotes the question from a customer's first message.
 */
import type { ClassifyInput } from '../pipeline/email-text.js';
import { cjkBigrams } from '../text/cjk-bigrams.js';
import { freshText } from './fresh-text.js';

/** Structural features are named in brackets, so they never collide with a word. */
export const isStructural = (feature: string) => feature.startsWith('[');

/** A word is read from the first characters of the fresh text only: a support question is stated early. */
const MAX_READ_CHARS = 6_000;
/** Word pairs are read from the first words only: the request, not the pasted log after it. */
const MAX_PAIRED_WORDS = 300;
/** Words longer than this are ids, hashes or base64, not language. */
const MAX_WORD_CHARS = 24;

const REPLY_SUBJECT = /^\s*(re|aw|sv|antw|r|rif|res|ré|回复|答复)\s*[:：]/i;
const FORWARD_SUBJECT = /^\s*(fwd?|tr|wg|rv|enc|转发)\s*[:：]/i;
/** Scripts written without spaces: read as overlapping character pairs instead of words. */
const UNSPACED_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}ー々]/u;
/** CJK runs arrive as the space-separated pairs of {@link cjkBigrams}; Thai runs are paired here. */
const TOKEN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Thai}ー々]+|\p{L}[\p{L}\p{M}\p{N}'’]*/gu;
const LINK = /\bhttps?:\/\/|\bwww\./gi;
const MONEY = /[$€£¥]\s?\d|\d\s?(€|usd|eur|gbp|dollars?)\b/i;
/** A discussion list's footer: where to read the list, not a marketing opt-out. */
const LIST_FOOTER = /mailing list|listinfo|mailman|\(un\)subscri/i;
/** Words of a marketing or bulk-mail opt-out, in the languages of the training corpus. */
const OPT_OUT =
  /unsubscri|opt[- ]?out|to be removed|remove me|email preferences|désabonn|désinscri|abmeld|abbestell|darse de baja|date de baja|annullare l'iscrizione|cancel(e|ar) a inscrição|配信停止|配信解除/i;

/**
 * Words of a problem, in the languages of the corpus. As one feature they carry what each word alone
 * cannot: a help request whose own words drown in a pasted log or config still says "error" or
 * "doesn't work" early on, in whatever product's vocabulary.
 */
const PROBLEM =
  /\b(errors?|fail(s|ed|ing|ure)?|problems?|trouble|unable|can'?t|cannot|couldn'?t|doesn'?t|won'?t|not working|broken|crash(es|ed|ing)?|traceback|hangs?|stuck|issues?|wrong)\b|erreur|problème|marche pas|fonctionne pas|fehler|problem|funktioniert nicht|geht nicht|no funciona|errore|problema|non funziona|não funciona|エラー|できません|不具合/i;
/** Asking the reader for help: "anyone", "any ideas", "how can I", "I'd appreciate", in the corpus's languages. */
const ASKS_FOR_HELP =
  /\b(any ?(one|body)|some ?(one|body)|any (ideas|help|suggestions|pointers|advice)|help|advice|suggestions?|how (do|can|should) i|is (it|there) (a way|possible)|what am i doing wrong|i need|i'?d appreciate|thanks in advance)\b|aide[zr]?\b|pourriez-vous|hilfe|können sie|ayuda|podrían|aiuto|potete|ajuda|podem|助けて|教えて/i;
/** How far into the fresh text a problem or a plea for help counts: the request, not the log below it. */
const REQUEST_CHARS = 1_500;

/** The distinct features of an email, words first, then structure. */
export function featuresOf(email: ClassifyInput): string[] {
  const fresh = freshText(email.body);
  const subject = email.subject;
  const features = new Set<string>();
  const isReply = email.is_reply === true || REPLY_SUBJECT.test(subject);
  // A reply's subject repeats the question it answers: only a first message's subject is evidence.
  if (!isReply) for (const word of words(subject)) features.add(`subject:${word}`);
  const text = fresh.text.slice(0, MAX_READ_CHARS);
  const textWords = words(text);
  for (const word of textWords) features.add(word);
  // Pairs carry what single words cannot: "how do", "any ideas", "does anyone", "can't seem".
  for (let index = 0; index + 1 < Math.min(textWords.length, MAX_PAIRED_WORDS); index += 1) features.add(`${textWords[index]} ${textWords[index + 1]}`);

  if (isReply) features.add('[reply]');
  if (FORWARD_SUBJECT.test(subject)) features.add('[forwarded]');
  if (fresh.quotedLines > 0) features.add('[quotes earlier mail]');
  if (fresh.lines > 0 && fresh.quotedLines > fresh.lines / 2) features.add('[mostly quoted]');
  // Links of the message itself: a list footer's links say nothing about the message.
  const links = (text.match(LINK) ?? []).length;
  features.add(links === 0 ? '[no links]' : links <= 2 ? '[1-2 links]' : links <= 9 ? '[3-9 links]' : '[10+ links]');
  const ending = `${text.slice(-1_000)}\n${fresh.footer.slice(0, 3_000)}`;
  if (OPT_OUT.test(ending)) features.add('[opt-out footer]');
  if (LIST_FOOTER.test(fresh.footer.slice(0, 3_000))) features.add('[mailing list footer]');
  if (fresh.footer !== '') features.add('[signature or footer]');
  if (MONEY.test(text)) features.add('[money amount]');
  if (/[?？]/.test(text) || /[?？]/.test(subject)) features.add('[question mark]');
  // A first message that asks is how a request opens a thread; a question in a reply is mostly discussion.
  if (!isReply && /[?？]/.test(text)) features.add('[first message asks]');
  const request = text.slice(0, REQUEST_CHARS);
  if (PROBLEM.test(request)) features.add('[problem words]');
  if (ASKS_FOR_HELP.test(request)) features.add('[asks for help]');
  if ((text.match(/!/g) ?? []).length >= 3) features.add('[3+ exclamation marks]');
  if (isShouting(subject)) features.add('[subject in capitals]');
  if (/digest|today's topics/i.test(subject) || /today's topics/i.test(text.slice(0, 2_000))) features.add('[digest]');
  const wordCount = (text.match(/\S+/g) ?? []).length;
  features.add(wordCount < 15 ? '[under 15 words]' : wordCount <= 150 ? '[15-150 words]' : wordCount <= 500 ? '[150-500 words]' : '[over 500 words]');
  return [...features];
}

/** Links and addresses: their pieces ("http", "com", host names) are no words of the message. */
const LINK_OR_ADDRESS = /\b(https?:\/\/|www\.)\S*|\S+@\S+/gi;

/**
 * Lower-case words; runs of an unspaced script become overlapping pairs of characters — of code
 * points, not UTF-16 units, so a character outside the BMP (𠮷) is never split into surrogates.
 * CJK runs are paired as the full-text index pairs them (cjkBigrams, with the kana length mark).
 */
function words(text: string): string[] {
  const result: string[] = [];
  for (const [token] of cjkBigrams(text.replace(LINK_OR_ADDRESS, ' ').normalize('NFKC').toLowerCase()).matchAll(TOKEN)) {
    if (UNSPACED_SCRIPT.test(token)) {
      const characters = [...token];
      for (let index = 0; index < characters.length - 1; index += 1) result.push(characters[index] + characters[index + 1]);
      if (characters.length === 1) result.push(token);
    } else if (token.length <= MAX_WORD_CHARS) {
      result.push(token);
    }
  }
  return result;
}

/** A subject of at least 8 letters, four in five of them capitals. */
function isShouting(subject: string): boolean {
  const letters = subject.match(/\p{L}/gu) ?? [];
  const capitals = letters.filter((letter) => letter !== letter.toLowerCase()).length;
  return letters.length >= 8 && capitals >= 0.8 * letters.length;
}
