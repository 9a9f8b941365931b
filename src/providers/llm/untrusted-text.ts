/**
 * Untrusted text (an email, a passage from an uploaded manual) made safe to put inside a prompt
 * fence. A sender may try to end the fence early with a look-alike closing tag: without `>`,
 * with zero-width characters inside, in full-width letters, or with Cyrillic or Greek letters
 * that look Latin. So the text is first brought to one spelling (NFKC, invisible characters
 * removed), and then every tag-like run whose letters, read as their Latin look-alikes, spell
 * `untrusted…` is replaced by an inert marker. Everything here is a single linear scan: the
 * text can be hundreds of kilobytes long.
 */
import { randomBytes } from 'node:crypto';
import unhomoglyph from 'unhomoglyph';

/** What a removed fence tag is replaced with; the model still sees that something was there. */
export const FENCE_TAG_PLACEHOLDER = '[fence tag removed]';

/**
 * Characters that show as nothing or reorder what is shown: every format character (Cf: zero-width
 * space and joiners, bidi controls, soft hyphen, word joiner, byte-order mark, the Unicode tag
 * characters U+E0000–E007F), the combining grapheme joiner, and letters that render blank
 * (Hangul fillers, the blank Braille pattern). Removing a zero-width joiner splits an emoji
 * sequence into its parts; nothing is lost to a reader.
 */
const INVISIBLE = /[\p{Cf}\u034F\u115F\u1160\u3164\uFFA0\u2800]/gu;

/** `<` and what looks like it (Unicode confusables, angle brackets); `&lt;` is handled apart. */
const OPENING_BRACKETS = new Set([...'<‹❮˂ᐸᚲ〈〈⟨《⧼❬❰﹤＜'].concat('\u{1D236}'));
/** `>` and what looks like it. */
const CLOSING_BRACKETS = new Set([...'>›❯˃ᐳ〉〉⟩》⧽❭❱﹥＞'].concat('\u{1D237}', '\u{16F3F}'));

/** A fence tag is at most this long; no scan looks further, so the work per `<` is bounded. */
const MAX_TAG_LENGTH = 80;

/** Letters a name must start with, and may go on with, to count as a fence tag, as skeletons. */
const REQUIRED_NAME = skeleton('untrusted');
const FULL_NAME = skeleton('untrustedemail');

/** One spelling of untrusted text: invisible characters removed, then NFKC (full-width → ASCII, ligatures split). */
export function normaliseUntrustedText(text: string): string {
  return text.replace(INVISIBLE, '').normalize('NFKC');
}

/** A fence for one prompt, named with a random suffix so no email can guess how to close it. */
export interface Fence {
  name: string;
  open: string;
  close: string;
}

/** Creates a fence named `untrusted_email_<8 hex digits>`. */
export function createFence(): Fence {
  const name = `untrusted_email_${randomBytes(4).toString('hex')}`;
  return { name, open: `<${name}>`, close: `</${name}>` };
}

/**
 * Normalises `text` and replaces every tag in it that could pass for a fence tag, and any bare
 * occurrence of `fence`'s name, with {@link FENCE_TAG_PLACEHOLDER}. The rest is kept as it is.
 */
export function fenceSafeText(text: string, fence: Fence): string {
  return neutraliseFenceTags(normaliseUntrustedText(text)).replaceAll(fence.name, FENCE_TAG_PLACEHOLDER);
}

/** Replaces tag-like runs that spell `untrusted…` (in any look-alike letters) with the placeholder. */
export function neutraliseFenceTags(text: string): string {
  let result = '';
  let copiedUpTo = 0;
  let index = 0;
  while (index < text.length) {
    const bracketLength = openingBracketLength(text, index);
    if (bracketLength === 0) {
      index += 1;
      continue;
    }
    const end = fenceTagEnd(text, index + bracketLength);
    if (end < 0) {
      index += bracketLength;
      continue;
    }
    result += text.slice(copiedUpTo, index) + FENCE_TAG_PLACEHOLDER;
    copiedUpTo = end;
    index = end;
  }
  return result + text.slice(copiedUpTo);
}

function openingBracketLength(text: string, index: number): number {
  if (text.startsWith('&lt', index)) return text[index + 3] === ';' ? 4 : 3;
  const character = String.fromCodePoint(text.codePointAt(index) ?? 0);
  return OPENING_BRACKETS.has(character) ? character.length : 0;
}

function closingBracketLength(text: string, index: number): number {
  if (text.startsWith('&gt', index)) return text[index + 3] === ';' ? 4 : 3;
  const character = String.fromCodePoint(text.codePointAt(index) ?? 0);
  return CLOSING_BRACKETS.has(character) ? character.length : 0;
}

/**
 * Where the fence tag that starts after an opening bracket at `start` ends, or -1 when the letters
 * there do not spell `untrusted`. Spaces, slashes, dashes, underscores and marks between the
 * letters are skipped; the tag goes on to a closing bracket on the same line, else to the end of
 * its name (`untrusted_email_1234abcd`).
 */
function fenceTagEnd(text: string, start: number): number {
  const limit = Math.min(text.length, start + MAX_TAG_LENGTH);
  let spelled = '';
  let nameEnd = -1;
  let position = start;
  while (position < limit && spelled.length < FULL_NAME.length) {
    const character = String.fromCodePoint(text.codePointAt(position) ?? 0);
    if (character === '\n' || openingBracketLength(text, position) > 0 || closingBracketLength(text, position) > 0) break;
    const letters = skeleton(character);
    if (letters) {
      const next = spelled + letters;
      const compared = Math.min(next.length, FULL_NAME.length);
      if (next.slice(0, compared) !== FULL_NAME.slice(0, compared)) break;
      spelled = next;
      if (spelled.length >= REQUIRED_NAME.length) nameEnd = position + character.length;
    }
    position += character.length;
  }
  if (nameEnd < 0) return -1;
  // The rest of the name: a suffix such as `_1234abcd`.
  let end = nameEnd;
  while (end < limit && /[\p{L}\p{N}_-]/u.test(text[end])) end += 1;
  for (let position = end; position < limit && text[position] !== '\n'; position += 1) {
    const closing = closingBracketLength(text, position);
    if (closing > 0) return position + closing;
    if (openingBracketLength(text, position) > 0) break;
  }
  return end;
}

/**
 * The Latin letters and digits `character` looks like, lower case (`е` → `e`, `ü` → `u`,
 * `m` → `rn`), or '' for spaces, punctuation and marks. Both sides of a comparison go through it.
 */
function skeleton(text: string): string {
  const bare = text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  return unhomoglyph(bare)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}
