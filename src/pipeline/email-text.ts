/**
 * An email as a language model (or the local classifier) reads it: the text fields, and what the
 * classifier role knows about it besides. The model contract (src/providers/llm/spec.ts) takes
 * these; the classifier's features (src/classify/features.ts) read them.
 */

/** The part of an email a model may see; all of it is untrusted data. */
export interface EmailText {
  from: string;
  subject: string;
  body: string;
}

/**
 * What the classifier reads: the email's text and what the classifier role knows about it besides.
 * The fields beyond {@link EmailText} are optional, so a bare email can still be classified.
 */
export interface ClassifyInput extends EmailText {
  /** ISO 639-1 code of the email's language (`und` when it could not be told), detected by the classifier role. */
  language?: string;
  /** True when the email answers an earlier message (it has References). */
  is_reply?: boolean;
}
