/**
 * The embedded language model: no keys, no network, same input → same output. It classifies with
 * a small logistic-regression model trained on labelled mail (local-classifier.ts) and replies by quoting the passage that answers
 * (local-reply.ts), so it can never say anything the documentation does not say, nor obey
 * instructions hidden in an email.
 */
import { classifyLocally } from './local-classifier.js';
import { composeLocalReply } from './local-reply.js';
import type { CallOptions, EmailText, LanguageModel, ModelResult, ReplyInput, TokenUsage } from './spec.js';

/** Options of {@link createLocalModel}. */
export interface LocalModelOptions {
  /** Model name reported in results and events. Default `local-v2`. */
  name?: string;
}

/** Creates the deterministic local model (provider `local`). */
export function createLocalModel(options: LocalModelOptions = {}): LanguageModel {
  const provider = 'local';
  const model = options.name ?? 'local-v2';
  const result = <T>(value: T, usage: TokenUsage, startedAt: number): ModelResult<T> => ({
    value,
    provider,
    model,
    usage,
    latency_ms: performance.now() - startedAt,
  });
  return {
    provider,
    model,
    async classify(email: EmailText, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const value = classifyLocally(email);
      const usage = { input_tokens: countWords(`${email.from} ${email.subject} ${email.body}`), output_tokens: countWords(value.reasoning) };
      return result(value, usage, startedAt);
    },
    async reply(input: ReplyInput, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const reply = composeLocalReply(input);
      const inputText = [input.email.subject, input.email.body, ...input.passages.map((passage) => passage.text)].join(' ');
      return result(reply, { input_tokens: countWords(inputText), output_tokens: countWords(reply.body) }, startedAt);
    },
  };
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
