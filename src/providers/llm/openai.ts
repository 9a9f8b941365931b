/**
 * Any server that speaks the OpenAI Chat Completions API, through the official `openai` SDK: OpenAI
 * itself, Azure OpenAI, Groq, Mistral, and the local servers (Ollama, llama.cpp's server, vLLM,
 * LM Studio, LocalAI). `maxRetries: 0`: the fallback chain and the consumer runtime own retries.
 *
 * Servers differ in what they accept, so two things are settings rather than guesses:
 * - the answer's format (`OPENAI_RESPONSE_FORMAT`): `json_schema` (structured output, OpenAI, Ollama
 *   ≥ 0.5, llama.cpp, vLLM), `json_object` (JSON mode) or `text` (the prompt alone asks for JSON; the
 *   strict parse and its one repair turn in chat-model.ts still apply);
 * - the dialect: OpenAI's own endpoint is sent its current one, the output budget as
 *   `max_completion_tokens` and no `temperature` (its reasoning models reject `max_tokens` and any
 *   temperature but the default) and the embedding size as `dimensions`; any other server is sent
 *   what every compatible server reads: `max_tokens`, `temperature: 0` for answers that repeat, and
 *   no `dimensions` (a local embedding model has one size). {@link openaiDialect} picks it from the URL.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { RagmailError } from '../../lib/errors.js';
import { nonSupportCategories, supportCategories } from './prompt.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import { createChatLanguageModel, type ChatAnswer, type ChatRequest } from './chat-model.js';
import { abortedError, httpFailureError, parseRetryDelay, timeoutError, unexpectedError, type ProviderCallContext } from './errors.js';
import type { LanguageModel } from './spec.js';
import { openaiDialect, type OpenAIDialect } from './openai-dialect.js';

export { openaiDialect, type OpenAIDialect };

/** OPENAI_RESPONSE_FORMAT: structured output, JSON mode, or the prompt alone. */
export type OpenAIResponseFormat = 'json_schema' | 'json_object' | 'text';

/** OpenAI's endpoint, used when no base URL is configured. */
export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** Settings of {@link createOpenAIModel} (OPENAI_API_KEY, OPENAI_MODEL, OPENAI_BASE_URL, OPENAI_RESPONSE_FORMAT, LLM_TIMEOUT_MS). */
export interface OpenAISettings {
  /** The key; local servers need none (an empty key is sent as a placeholder the SDK requires). */
  apiKey: string;
  /** Model name, e.g. `gpt-4.1-mini`, or `qwen3:8b` on Ollama. */
  model: string;
  /** API root with its version, e.g. `http://127.0.0.1:11434/v1` for Ollama; default OpenAI's endpoint. */
  baseUrl?: string;
  /** How the answer's JSON is asked for. */
  responseFormat: OpenAIResponseFormat;
  /** Which request fields the server reads; see {@link openaiDialect}. */
  dialect: OpenAIDialect;
  /** Time allowed for one HTTP request, in ms. */
  timeoutMs: number;
}

/** Output budgets: a classification is one short JSON object, a reply a few paragraphs inside one. */
const MAX_OUTPUT_TOKENS = { classification: 512, reply: 2000 } as const;
/**
 * On OpenAI's endpoint `max_completion_tokens` also bounds a reasoning model's hidden reasoning,
 * which can spend a small budget whole and leave an empty answer: room for it on top.
 */
const REASONING_ALLOWANCE = 6000;

/** The JSON Schemas of the two answers (strict: every field required, nothing else allowed). */
const answerSchemas = {
  classification: {
    name: 'classification',
    schema: {
      type: 'object',
      properties: {
        is_support_inquiry: { type: 'boolean' },
        category: { type: 'string', enum: [...supportCategories, ...nonSupportCategories] },
        confidence: { type: 'number' },
        reasoning: { type: 'string' },
      },
      required: ['is_support_inquiry', 'category', 'confidence', 'reasoning'],
      additionalProperties: false,
    },
  },
  reply: {
    name: 'reply',
    schema: {
      type: 'object',
      properties: {
        reply: { type: 'string' },
        answerable: { type: 'boolean' },
        confidence: { type: 'number' },
        cited: { type: 'array', items: { type: 'integer' } },
      },
      required: ['reply', 'answerable', 'confidence', 'cited'],
      additionalProperties: false,
    },
  },
} as const;

/** The OpenAI client as this project configures it. */
export function createOpenAIClient(settings: Pick<OpenAISettings, 'apiKey' | 'baseUrl' | 'timeoutMs'>): OpenAI {
  return new OpenAI({
    // The SDK refuses an empty key; Ollama and other local servers ignore whatever is sent.
    apiKey: settings.apiKey || 'none',
    // Explicit, so OPENAI_BASE_URL read by the SDK itself cannot differ from the validated setting.
    baseURL: settings.baseUrl || OPENAI_DEFAULT_BASE_URL,
    maxRetries: 0,
    timeout: settings.timeoutMs,
    // A proxy or an organisation picked up from the environment would be a surprise here.
    organization: null,
    project: null,
  });
}

function responseFormat(format: OpenAIResponseFormat, task: ChatRequest['task']): OpenAI.ChatCompletionCreateParams['response_format'] {
  if (format === 'json_object') return { type: 'json_object' };
  if (format === 'json_schema') return { type: 'json_schema', json_schema: { ...answerSchemas[task], strict: true } };
  return undefined;
}

/** Creates the language model of an OpenAI-compatible server (provider `openai`). */
export function createOpenAIModel(settings: OpenAISettings): LanguageModel {
  const client = createOpenAIClient(settings);
  const dialect =
    settings.dialect === 'openai' ? { budgetField: 'max_completion_tokens', temperature: {} } : { budgetField: 'max_tokens', temperature: { temperature: 0 } };
  return createChatLanguageModel({
    provider: 'openai',
    model: settings.model,
    async complete(request: ChatRequest): Promise<ChatAnswer> {
      let completion: OpenAI.ChatCompletion;
      try {
        const format = responseFormat(settings.responseFormat, request.task);
        completion = await client.chat.completions.create(
          {
            model: settings.model,
            messages: [{ role: 'system', content: request.system }, ...request.turns.map((turn) => ({ role: turn.role, content: turn.text }))],
            ...dialect.temperature,
            [dialect.budgetField]: MAX_OUTPUT_TOKENS[request.task] + (settings.dialect === 'openai' ? REASONING_ALLOWANCE : 0),
            ...(format ? { response_format: format } : {}),
          },
          { signal: request.signal },
        );
      } catch (error) {
        throw toOpenAIError(error, { provider: 'openai', kind: 'llm', signal: request.signal }, settings.timeoutMs);
      }
      const choice = completion.choices?.[0];
      // A refusal comes back in its own field with no content: it is the answer's text all the same.
      const text = choice?.message?.content ?? choice?.message?.refusal ?? '';
      return {
        text,
        usage: { input_tokens: completion.usage?.prompt_tokens ?? 0, output_tokens: completion.usage?.completion_tokens ?? 0 },
        finishReason: choice?.finish_reason ?? undefined,
      };
    },
  });
}

/** Maps what the OpenAI SDK threw: API errors by status (with `retry-after`), its timeout, the caller's abort. */
export function toOpenAIError(error: unknown, context: ProviderCallContext, timeoutMs: number): RagmailError {
  if (error instanceof APIUserAbortError) return abortedError(context, error);
  if (error instanceof APIConnectionTimeoutError) return timeoutError(context, timeoutMs, error);
  if (error instanceof APIConnectionError) return unexpectedError(context, new TypeError(error.message, { cause: error }));
  if (error instanceof APIError && typeof error.status === 'number') {
    const body = error.error as { message?: unknown; type?: unknown; code?: unknown } | undefined;
    const detail = typeof body?.message === 'string' ? body.message : error.message;
    const statusName = typeof body?.code === 'string' ? body.code : typeof body?.type === 'string' ? body.type : undefined;
    const headers = error.headers;
    return httpFailureError(
      context,
      {
        status: error.status,
        detail,
        statusName,
        retryAfterMs: parseRetryMs(headers?.get('retry-after-ms')) ?? parseRetryDelay(headers?.get('retry-after')) ?? parseRetryDelay(detail),
      },
      error,
    );
  }
  return unexpectedError(context, error);
}

function parseRetryMs(value: string | null | undefined): number | undefined {
  const milliseconds = Number(value);
  return value && Number.isFinite(milliseconds) && milliseconds >= 0 ? Math.round(milliseconds) : undefined;
}

/**
 * Checks the server, the key and the model with one cheap call (`models.retrieve`, no tokens
 * spent). Never throws: a bad key or an unknown model comes back as `ok: false` with the reason.
 */
export async function checkOpenAI(settings: Omit<OpenAISettings, 'responseFormat' | 'dialect'>, kind: 'llm' | 'embedding' = 'llm'): Promise<ProviderCheck> {
  if (!settings.apiKey && !settings.baseUrl)
    return { ok: false, latencyMs: 0, detail: 'OPENAI_API_KEY is not set (needed for OpenAI itself; a local server needs OPENAI_BASE_URL)' };
  return runProviderCheck(
    async () => {
      const model = await createOpenAIClient(settings).models.retrieve(settings.model);
      return `model ${model.id} is available at ${settings.baseUrl || OPENAI_DEFAULT_BASE_URL}`;
    },
    (error) => {
      const mapped = toOpenAIError(error, { provider: 'openai', kind }, settings.timeoutMs);
      return `${mapped.code}: ${mapped.message}`;
    },
  );
}
