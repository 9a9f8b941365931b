/**
 * A fallback chain of language models (docs/ARCHITECTURE.md#failures): a retryable failure of one provider (quota,
 * timeout, 5xx) moves on to the next before the message itself is retried; a permanent failure
 * (bad key, bad request) stops the chain so it surfaces at once. A provider that asked for a
 * pause (`retry-after` on a 429 or 503, Google's RetryInfo) is not called again before the pause
 * ends: the chain goes straight to the next one, and when every provider is failing or resting,
 * the chain's error carries the shortest pause left, which the consumer honours as far as its
 * wait queues allow.
 */
import type { Logger } from '../../lib/log.js';
import { isRetryable } from '../../lib/errors.js';
import { ProviderCallError } from './errors.js';
import type { CallOptions, EmailText, LanguageModel, ModelResult, ReplyInput } from './spec.js';

/** The longest pause a provider's retry-after can impose here; a longer hint is likely a mistake. */
const MAX_REST_MS = 10 * 60_000;

export function createFallbackModel(models: LanguageModel[], logger: Logger, now: () => number = Date.now): LanguageModel {
  if (models.length === 0) throw new Error('a fallback chain needs at least one model');
  if (models.length === 1) return models[0];
  /** When each provider that asked for a pause may be called again. */
  const restingUntil = new Map<LanguageModel, number>();

  async function firstThatAnswers<T>(call: (model: LanguageModel) => Promise<ModelResult<T>>, signal: AbortSignal | undefined): Promise<ModelResult<T>> {
    const failures: string[] = [];
    let shortestRest: number | undefined;
    // A provider that failed without asking for a pause may answer at the next try: no pause then.
    let mayAnswerSoon = false;
    for (const model of models) {
      const rest = (restingUntil.get(model) ?? 0) - now();
      if (rest > 0) {
        failures.push(`${model.provider}: resting ${Math.ceil(rest / 1000)} s more, as its retry-after asked`);
        shortestRest = Math.min(shortestRest ?? rest, rest);
        continue;
      }
      try {
        return await call(model);
      } catch (error) {
        // The caller's abort (shutdown) ends the chain too: the next provider would only be aborted.
        if (!isRetryable(error) || signal?.aborted) throw error;
        const pause = error instanceof ProviderCallError ? error.retryAfterMs : undefined;
        if (pause !== undefined && pause > 0) {
          restingUntil.set(model, now() + Math.min(pause, MAX_REST_MS));
          shortestRest = Math.min(shortestRest ?? pause, pause);
        } else {
          mayAnswerSoon = true;
        }
        failures.push(`${model.provider}: ${(error as Error).message}`);
        logger.warn('language model failed, trying the next one', { provider: model.provider, error: (error as Error).message, retry_after_ms: pause });
      }
    }
    throw new ProviderCallError(`every language model failed: ${failures.join('; ')}`, {
      code: 'llm_unavailable',
      retryable: true,
      retryAfterMs: shortestRest === undefined || mayAnswerSoon ? undefined : Math.min(shortestRest, MAX_REST_MS),
    });
  }

  return {
    provider: models.map((model) => model.provider).join('>'),
    model: models.map((model) => model.model).join('>'),
    classify: (email: EmailText, options?: CallOptions) => firstThatAnswers((model) => model.classify(email, options), options?.signal),
    reply: (input: ReplyInput, options?: CallOptions) => firstThatAnswers((model) => model.reply(input, options), options?.signal),
  };
}
