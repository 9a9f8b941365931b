/**
 * How much of an email a language model and the retrieval read. A support question is stated in
 * the first screens of a message; what follows (quoted threads, pasted logs, a crafted body of
 * digits) only costs tokens and time. The poller already cuts bodies at 128 KB; this cut is the
 * classifier's and responder's own, so a message that reached the queue some other way is bounded
 * before any pattern or model sees it.
 */
import type { EmailText } from '../providers/llm/spec.js';

/** The most characters of each field a model reads. */
export const MODEL_INPUT_LIMITS = {
  from: 1_000,
  subject: 1_000,
  /** About 8,000 tokens: a long question with its quoted thread fits. */
  body: 32_000,
} as const satisfies Record<keyof EmailText, number>;

/** A field that was cut: its length and how much of it the model read. */
export interface CutField {
  length: number;
  kept: number;
}

/** The email as the model reads it, and which fields were cut (empty when none was). */
export interface ModelInput {
  email: EmailText;
  cut: Partial<Record<keyof EmailText, CutField>>;
}

/** Note at the end of a cut body, so the model knows it did not see everything. */
export const BODY_CUT_NOTE = '\n\n[the rest of this email was cut: too long to read in full]';

/** The first {@link MODEL_INPUT_LIMITS} characters of each field, with a note at the end of a cut body. */
export function limitForModel(email: EmailText): ModelInput {
  const cut: ModelInput['cut'] = {};
  const limited = { ...email };
  for (const field of ['from', 'subject', 'body'] as const) {
    const limit = MODEL_INPUT_LIMITS[field];
    const text = email[field];
    if (text.length <= limit) continue;
    // Never split a surrogate pair: half an emoji would be an invalid character.
    const end = isHighSurrogate(text.charCodeAt(limit - 1)) ? limit - 1 : limit;
    limited[field] = text.slice(0, end) + (field === 'body' ? BODY_CUT_NOTE : '');
    cut[field] = { length: text.length, kept: end };
  }
  return { email: limited, cut };
}

/** `{ input_cut }` for an event's detail and log line when a field was cut, else an empty object. */
export function cutDetail(input: ModelInput): { input_cut?: ModelInput['cut'] } {
  return Object.keys(input.cut).length > 0 ? { input_cut: input.cut } : {};
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
