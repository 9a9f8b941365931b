/**
 * A fallback chain of language models (docs/ARCHITECTURE.md#failures): a retryable failure of one provider (quota,
 * timeout, 5xx) moves on to the next before the message itself is retried; a permanent failure
 * (bad key, bad request) stops the chain so it surfaces at once.
 */
import type { Logger } from '../../lib/log.js';
import { isRetryable, transientError } from '../../lib/errors.js';
import type { CallOptions, EmailText, LanguageModel, ModelResult, ReplyInput } from './spec.js';

export function createFallbackModel(models: LanguageModel[], logger: Logger): LanguageModel {
  if (models.length === 0) throw new Error('a fallback chain needs at least one model');
  if (models.length === 1) return models[0];

  async function firstThatAnswers<T>(call: (model: LanguageModel) => Promise<ModelResult<T>>, signal: AbortSignal | undefined): Promise<ModelResult<T>> {
    const failures: string[] = [];
    for (const model of models) {
      try {
        return await call(model);
      } catch (error) {
        // The caller's abort (shutdown) ends the chain too: the next provider would only be aborted.
        if (!isRetryable(error) || signal?.aborted) throw error;
        failures.push(`${model.provider}: ${(error as Error).message}`);
        logger.warn('language model failed, trying the next one', { provider: model.provider, error: (error as Error).message });
      }
    }
    throw transientError('llm_unavailable', `every language model failed: ${failures.join('; ')}`);
  }

  return {
    provider: models.map((model) => model.provider).join('>'),
    model: models.map((model) => model.model).join('>'),
    classify: (email: EmailText, options?: CallOptions) => firstThatAnswers((model) => model.classify(email, options), options?.signal),
    reply: (input: ReplyInput, options?: CallOptions) => firstThatAnswers((model) => model.reply(input, options), options?.signal),
  };
}
