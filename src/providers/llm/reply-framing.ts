/**
 * The frame of every reply, whatever model wrote its middle: the greeting by name, the sign-off
 * with the mailbox's signature, and the hand-off a person takes over, in the customer's language.
 */
import { addressParser } from 'postal-mime';
import type { EmailText } from './spec.js';
import { phrasesFor, REPLY_PHRASES, type ReplyPhrases } from './reply-phrases.js';

/** A display name longer than this, or of more words, is not a person's name. */
const MAX_NAME_CHARACTERS = 60;
const MAX_NAME_WORDS = 4;

/** The hand-off reply in the customer's language (English when the phrase table lacks it). */
export function handoffBody(email: EmailText, language: string | undefined, signature: string | undefined): string {
  const phrases = phrasesFor(language) ?? REPLY_PHRASES.en;
  return [phrases.greeting(senderName(email.from)), phrases.handoff, signOff(phrases, signature)].join('\n\n');
}

export function signOff(phrases: ReplyPhrases, signature: string | undefined): string {
  return `${phrases.signOff}\n${signature?.trim() || phrases.signature}`;
}

/**
 * The sender's name from a From header (`"Ana Pérez" <ana@example.org>`): the given name for a
 * greeting and the full name. Undefined when there is none, or when the display name does not
 * read as a person's name (an address, digits, a sentence): a greeting never repeats the email.
 */
export function senderName(from: string): { given: string; full: string } | undefined {
  const display = addressParser(from)[0]?.name?.trim() ?? '';
  // "Pérez, Ana" is "Ana Pérez".
  const full = display.includes(',')
    ? display
        .split(',')
        .reverse()
        .map((part) => part.trim())
        .join(' ')
    : display;
  const words = full.split(/\s+/).filter(Boolean);
  if (full.length > MAX_NAME_CHARACTERS || words.length === 0 || words.length > MAX_NAME_WORDS) return undefined;
  // Letters with inner apostrophes or hyphens ("O'Brien", "Jean-Luc"), and a final dot only ("Dr."):
  // an inner dot would let a domain ("evil-support.com") into the greeting, where it becomes a link.
  if (!words.every((word) => /^[\p{L}\p{M}]+(?:['’-][\p{L}\p{M}]+)*\.?$/u.test(word))) return undefined;
  // "Dr. Ana Pérez": the given name is the first word that is not an abbreviated title.
  const given = words.find((word) => !word.endsWith('.'));
  return given ? { given, full: words.join(' ') } : undefined;
}
