/** The language-model contract: task-level verbs, so the local fallback needs no prompt parsing. */
import type { EmailText, ClassifyInput } from '../../pipeline/email-text.js';
import type { Classification, ContextItem } from '../../pipeline/messages.js';

// Defined with the domain vocabulary, so the classifier's features (src/classify/) can read them
// without depending on the providers that use them (docs/ARCHITECTURE.md#layers).
export type { ClassifyInput, EmailText };

export interface ReplyInput {
  email: EmailText;
  /** Retrieved passages, best first; the reply cites them by document and page. */
  passages: ContextItem[];
  /** ISO 639-1 code of the customer's language, from the classification; the reply is written in it. */
  language?: string;
  /** The mailbox's signature, which ends the reply; the model's default when absent. */
  signature?: string;
}

export interface GeneratedReply {
  /** Plain-text reply body, citations included as `"<document>", page N`. */
  body: string;
  /**
   * The model's own judgement of its reply: whether the passages answer the question, how sure it
   * is (0 to 1), and which passages (1-based numbers in `ReplyInput.passages`) the reply cites.
   */
  verdict?: ReplyVerdict;
}

export interface ReplyVerdict {
  answerable: boolean;
  confidence: number;
  cited: number[];
}

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
}

/** What every call returns: the value and where it came from. */
export interface ModelResult<T> {
  value: T;
  provider: string;
  model: string;
  usage: TokenUsage;
  latency_ms: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface LanguageModel {
  readonly provider: string;
  readonly model: string;
  classify(email: ClassifyInput, options?: CallOptions): Promise<ModelResult<Omit<Classification, 'provider' | 'model'>>>;
  reply(input: ReplyInput, options?: CallOptions): Promise<ModelResult<GeneratedReply>>;
}
