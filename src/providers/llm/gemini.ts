/**
 * Gemini through `@google/genai` (the supported successor of `@google/generative-ai`). The SDK
 * retries nothing here: the fallback chain and the consumer runtime own retries, so a 429 moves
 * on to the next provider at once instead of sleeping inside one call.
 */
import { ApiError, GoogleGenAI, Type, type GenerateContentResponse, type Schema } from '@google/genai';
import type { RagmailError } from '../../lib/errors.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import { nonSupportCategories, supportCategories } from './prompt.js';
import { createChatLanguageModel, type ChatAnswer, type ChatRequest } from './chat-model.js';
import { httpFailureError, isAbortLike, parseRetryDelay, timeoutError, unexpectedError, type ProviderCallContext } from './errors.js';
import type { LanguageModel } from './spec.js';

/** Settings of {@link createGeminiModel} (GEMINI_API_KEY, GEMINI_MODEL, GEMINI_BASE_URL, LLM_TIMEOUT_MS). */
export interface GeminiSettings {
  apiKey: string;
  /** Model name, e.g. `gemini-2.5-flash`. */
  model: string;
  /** API root without the version, e.g. a loopback fake; default Google's endpoint. */
  baseUrl?: string;
  /** Time allowed for one HTTP request, in ms. */
  timeoutMs: number;
}

/** The Gemini API client as this project configures it. */
export function createGeminiClient(settings: Omit<GeminiSettings, 'model'>): GoogleGenAI {
  return new GoogleGenAI({
    apiKey: settings.apiKey,
    // Explicit, so GOOGLE_GENAI_USE_VERTEXAI in the environment cannot switch the backend.
    vertexai: false,
    httpOptions: {
      ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
      timeout: settings.timeoutMs,
      retryOptions: { attempts: 1 },
    },
  });
}

/** The shape Gemini must give a classification (JSON mode with a response schema). */
const classificationSchema: Schema = {
  type: Type.OBJECT,
  properties: {
    is_support_inquiry: { type: Type.BOOLEAN },
    category: { type: Type.STRING, enum: [...supportCategories, ...nonSupportCategories] },
    confidence: { type: Type.NUMBER, minimum: 0, maximum: 1 },
    reasoning: { type: Type.STRING },
  },
  required: ['is_support_inquiry', 'category', 'confidence', 'reasoning'],
  propertyOrdering: ['is_support_inquiry', 'category', 'confidence', 'reasoning'],
};

/** The shape Gemini must give a reply: its text with `[n]` citations, and its verdict. */
const replySchema: Schema = {
  type: Type.OBJECT,
  properties: {
    reply: { type: Type.STRING },
    answerable: { type: Type.BOOLEAN },
    confidence: { type: Type.NUMBER, minimum: 0, maximum: 1 },
    cited: { type: Type.ARRAY, items: { type: Type.INTEGER } },
  },
  required: ['reply', 'answerable', 'confidence', 'cited'],
  propertyOrdering: ['reply', 'answerable', 'confidence', 'cited'],
};

const responseSchemas = { classification: classificationSchema, reply: replySchema } as const;

/** Creates the Gemini language model (provider `gemini`). */
export function createGeminiModel(settings: GeminiSettings): LanguageModel {
  const client = createGeminiClient(settings);
  return createChatLanguageModel({
    provider: 'gemini',
    model: settings.model,
    async complete(request: ChatRequest): Promise<ChatAnswer> {
      let response: GenerateContentResponse;
      try {
        response = await client.models.generateContent({
          model: settings.model,
          contents: request.turns.map((turn) => ({ role: turn.role === 'assistant' ? 'model' : 'user', parts: [{ text: turn.text }] })),
          config: {
            systemInstruction: request.system,
            temperature: 0,
            abortSignal: request.signal,
            responseMimeType: 'application/json',
            responseSchema: responseSchemas[request.task],
          },
        });
      } catch (error) {
        throw toGeminiError(error, { provider: 'gemini', kind: 'llm', signal: request.signal }, settings.timeoutMs);
      }
      return readAnswer(response);
    },
  });
}

function readAnswer(response: GenerateContentResponse): ChatAnswer {
  const candidate = response.candidates?.[0];
  // Thought parts are the model's scratchpad, not its answer.
  const text = (candidate?.content?.parts ?? [])
    .filter((part) => typeof part.text === 'string' && part.thought !== true)
    .map((part) => part.text)
    .join('');
  const metadata = response.usageMetadata;
  return {
    text,
    usage: {
      input_tokens: metadata?.promptTokenCount ?? 0,
      // Thinking tokens are billed as output.
      output_tokens: (metadata?.candidatesTokenCount ?? 0) + (metadata?.thoughtsTokenCount ?? 0),
    },
    finishReason: candidate?.finishReason ?? (response.promptFeedback?.blockReason ? `prompt blocked: ${response.promptFeedback.blockReason}` : undefined),
  };
}

/** Google's error body: `{ error: { code, message, status, details: [{ '@type', retryDelay }] } }`. */
interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: Array<{ '@type'?: string; retryDelay?: string }> };
}

/** Maps what the Gemini SDK threw (ApiError, a timeout's AbortError, a network failure). */
export function toGeminiError(error: unknown, context: ProviderCallContext, timeoutMs: number): RagmailError {
  if (error instanceof ApiError) {
    // The SDK puts the whole JSON error body in the message.
    let body: GoogleErrorBody;
    try {
      body = JSON.parse(error.message) as GoogleErrorBody;
    } catch {
      body = { error: { message: error.message } };
    }
    const detail = body.error?.message || error.message;
    const retryInfo = body.error?.details?.find((item) => item['@type']?.endsWith('google.rpc.RetryInfo'));
    return httpFailureError(
      context,
      {
        status: error.status,
        detail,
        statusName: body.error?.status,
        retryAfterMs: parseRetryDelay(retryInfo?.retryDelay) ?? parseRetryDelay(detail),
      },
      error,
    );
  }
  // The SDK aborts its own request when the timeout passes; only the caller's abort is not one.
  if (isAbortLike(error) && !context.signal?.aborted) return timeoutError(context, timeoutMs, error);
  return unexpectedError(context, error);
}

/**
 * Checks the key and the model with one cheap call (`models.get`, no tokens spent). Never
 * throws: a bad key comes back as `ok: false` with the provider's reason.
 */
export async function checkGemini(settings: GeminiSettings): Promise<ProviderCheck> {
  if (!settings.apiKey) return { ok: false, latencyMs: 0, detail: 'GEMINI_API_KEY is not set' };
  return runProviderCheck(
    async () => {
      const model = await createGeminiClient(settings).models.get({ model: settings.model });
      return `model ${model.name ?? settings.model} is available`;
    },
    (error) => {
      const mapped = toGeminiError(error, { provider: 'gemini', kind: 'llm' }, settings.timeoutMs);
      return `${mapped.code}: ${mapped.message}`;
    },
  );
}
