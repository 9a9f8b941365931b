/**
 * Claude through `@anthropic-ai/sdk`. `maxRetries: 0`: the fallback chain and the consumer
 * runtime own retries, so a 429 or a 529 moves on to the next provider at once.
 */
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { RagmailError } from '../../lib/errors.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import { createChatLanguageModel, type ChatAnswer, type ChatRequest } from './chat-model.js';
import { abortedError, httpFailureError, parseRetryDelay, timeoutError, unexpectedError, type ProviderCallContext } from './errors.js';
import type { LanguageModel } from './spec.js';

/** Settings of {@link createAnthropicModel} (ANTHROPIC_API_KEY, ANTHROPIC_MODEL, ANTHROPIC_BASE_URL, LLM_TIMEOUT_MS). */
export interface AnthropicSettings {
  apiKey: string;
  /** Model name, e.g. `claude-sonnet-4-5`. */
  model: string;
  /** API root, e.g. a loopback fake; default Anthropic's endpoint. */
  baseUrl?: string;
  /** Time allowed for one HTTP request, in ms. */
  timeoutMs: number;
}

/** Output budgets: a classification is one short JSON object, a reply a few paragraphs inside one. */
const MAX_OUTPUT_TOKENS = { classification: 512, reply: 2000 } as const;

function createAnthropicClient(settings: AnthropicSettings): Anthropic {
  return new Anthropic({
    apiKey: settings.apiKey,
    // An explicit value, so ANTHROPIC_BASE_URL in the environment cannot redirect the calls.
    baseURL: settings.baseUrl || 'https://api.anthropic.com',
    maxRetries: 0,
    timeout: settings.timeoutMs,
  });
}

/** Creates the Claude language model (provider `anthropic`). */
export function createAnthropicModel(settings: AnthropicSettings): LanguageModel {
  const client = createAnthropicClient(settings);
  return createChatLanguageModel({
    provider: 'anthropic',
    model: settings.model,
    async complete(request: ChatRequest): Promise<ChatAnswer> {
      let message: Anthropic.Message;
      try {
        message = await client.messages.create(
          {
            model: settings.model,
            max_tokens: MAX_OUTPUT_TOKENS[request.task],
            system: request.system,
            messages: request.turns.map((turn) => ({ role: turn.role, content: turn.text })),
          },
          { signal: request.signal },
        );
      } catch (error) {
        throw toAnthropicError(error, { provider: 'anthropic', kind: 'llm', signal: request.signal }, settings.timeoutMs);
      }
      const text = message.content
        .filter((block): block is Anthropic.TextBlock => block.type === 'text')
        .map((block) => block.text)
        .join('');
      const usage = message.usage;
      return {
        text,
        usage: {
          // Cached prompt tokens are input all the same.
          input_tokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0),
          output_tokens: usage.output_tokens,
        },
        finishReason: message.stop_reason ?? undefined,
      };
    },
  });
}

/** Maps what the Anthropic SDK threw: API errors by status, its timeout, the caller's abort. */
export function toAnthropicError(error: unknown, context: ProviderCallContext, timeoutMs: number): RagmailError {
  if (error instanceof APIUserAbortError) return abortedError(context, error);
  if (error instanceof APIConnectionTimeoutError) return timeoutError(context, timeoutMs, error);
  if (error instanceof APIConnectionError) return unexpectedError(context, new TypeError(error.message, { cause: error }));
  if (error instanceof APIError && typeof error.status === 'number') {
    return httpFailureError(
      context,
      {
        status: error.status,
        detail: error.apiMessage ?? error.message,
        statusName: error.type ?? undefined,
        retryAfterMs: parseRetryDelay(error.headers?.get('retry-after')) ?? parseRetryDelay(error.apiMessage),
      },
      error,
    );
  }
  return unexpectedError(context, error);
}

/**
 * Checks the key and the model with one cheap call (`models.retrieve`, no tokens spent). Never
 * throws: a bad key comes back as `ok: false` with the provider's reason.
 */
export async function checkAnthropic(settings: AnthropicSettings): Promise<ProviderCheck> {
  if (!settings.apiKey) return { ok: false, latencyMs: 0, detail: 'ANTHROPIC_API_KEY is not set' };
  return runProviderCheck(
    async () => {
      const model = await createAnthropicClient(settings).models.retrieve(settings.model);
      return `model ${model.id} is available`;
    },
    (error) => {
      const mapped = toAnthropicError(error, { provider: 'anthropic', kind: 'llm' }, settings.timeoutMs);
      return `${mapped.code}: ${mapped.message}`;
    },
  );
}
