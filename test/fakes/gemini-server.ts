/**
 * A loopback fake of the Gemini API (generativelanguage.googleapis.com, `v1beta`) for
 * `@google/genai` with `httpOptions.baseUrl` pointed at it. It serves `models/{m}:generateContent`
 * (answered by the model brain), `models/{m}:batchEmbedContents` (deterministic bag-of-words
 * vectors) and `models/{m}` (model info), with Google's error body on failures.
 */
import { answerPrompt, countTokens } from './model-brain.js';
import { startScriptedServer, type FakeServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export type { FakeServer, RecordedRequest, ScriptedResponse };

/** Options of {@link startFakeGemini}. */
export interface FakeGeminiOptions {
  /** When set, any other `x-goog-api-key` is refused as Gemini does: 400 INVALID_ARGUMENT, API_KEY_INVALID. */
  apiKey?: string;
}

/** Gemini's full-size embedding, used when a request names no `outputDimensionality`. */
const DEFAULT_EMBEDDING_DIMENSIONS = 3072;

/** Starts the fake; with nothing enqueued it answers like a well-behaved model. */
export function startFakeGemini(options: FakeGeminiOptions = {}): Promise<FakeServer> {
  return startScriptedServer((request) => {
    if (options.apiKey !== undefined && request.headers['x-goog-api-key'] !== options.apiKey) {
      return geminiErrorResponse(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', {
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }],
      });
    }
    const route = /^\/v1beta\/models\/([^/:]+)(?::(\w+))?$/.exec(request.path);
    if (route && request.method === 'POST' && route[2] === 'generateContent') return generateContent(route[1], request.body);
    if (route && request.method === 'POST' && route[2] === 'batchEmbedContents') return batchEmbedContents(request.body);
    if (route && request.method === 'GET' && route[2] === undefined) {
      return { status: 200, body: { name: `models/${route[1]}`, version: '001', displayName: route[1], inputTokenLimit: 1_048_576, outputTokenLimit: 65_536 } };
    }
    return geminiErrorResponse(404, 'NOT_FOUND', `${request.method} ${request.path} is not served by this fake`);
  });
}

/** A Gemini error answer, e.g. `geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', '…', { retryDelay: '7s' })`. */
export function geminiErrorResponse(
  status: number,
  statusName: string,
  message: string,
  extra: { retryDelay?: string; details?: unknown[]; delayMs?: number } = {},
): ScriptedResponse {
  const details = [...(extra.details ?? [])];
  if (extra.retryDelay) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: extra.retryDelay });
  return {
    status,
    body: { error: { code: status, message, status: statusName, ...(details.length ? { details } : {}) } },
    delayMs: extra.delayMs,
  };
}

/** A successful `generateContent` answer whose text is `text`, e.g. malformed output for a test. */
export function geminiTextResponse(text: string, model = 'gemini-fake', delayMs?: number): ScriptedResponse {
  return {
    status: 200,
    delayMs,
    body: {
      candidates: [{ content: { parts: [{ text }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: countTokens(text), totalTokenCount: 10 + countTokens(text) },
      modelVersion: model,
      responseId: `fake-${Math.random().toString(36).slice(2)}`,
    },
  };
}

interface GenerateContentBody {
  contents?: Array<{ role?: string; parts?: Array<{ text?: string }> }>;
  systemInstruction?: { parts?: Array<{ text?: string }> };
}

async function generateContent(model: string, body: unknown): Promise<ScriptedResponse> {
  const request = (body ?? {}) as GenerateContentBody;
  const texts = (request.contents ?? []).map((content) => (content.parts ?? []).map((part) => part.text ?? '').join(''));
  if (texts.length === 0) return geminiErrorResponse(400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
  // A repair turn repeats the task; the first user turn holds the prompt with the email.
  const answer = await answerPrompt(texts[0]);
  const system = (request.systemInstruction?.parts ?? []).map((part) => part.text ?? '').join('');
  const promptTokenCount = countTokens([system, ...texts].join(' '));
  const candidatesTokenCount = countTokens(answer);
  return {
    status: 200,
    body: {
      candidates: [{ content: { parts: [{ text: answer }], role: 'model' }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount, candidatesTokenCount, totalTokenCount: promptTokenCount + candidatesTokenCount },
      modelVersion: model,
      responseId: `fake-${Math.random().toString(36).slice(2)}`,
    },
  };
}

interface BatchEmbedBody {
  requests?: Array<{ content?: { parts?: Array<{ text?: string }> }; outputDimensionality?: number }>;
}

function batchEmbedContents(body: unknown): ScriptedResponse {
  const requests = ((body ?? {}) as BatchEmbedBody).requests ?? [];
  if (requests.length > 100) {
    return geminiErrorResponse(400, 'INVALID_ARGUMENT', '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch');
  }
  const embeddings = requests.map((request) => ({
    values: bagOfWordsVector(
      (request.content?.parts ?? []).map((part) => part.text ?? '').join(' '),
      request.outputDimensionality ?? DEFAULT_EMBEDDING_DIMENSIONS,
    ),
  }));
  return { status: 200, body: { embeddings } };
}

/** Words that say nothing about a text's topic; an embedding model all but ignores them. */
const STOP_WORDS = new Set(
  'a an and are as at be been but by can could did do does for from get got has have hello hi how i if in into is it its just me my no not of on or our please regards so some than thank thanks that the their them then there these they this to too up was we what when which will with would you your'.split(
    ' ',
  ),
);

/**
 * A deterministic unit vector in which texts sharing words point in similar directions, so
 * semantic retrieval behaves sensibly against the fake. Like a real embedding model's, its
 * similarities sit well above 0 for unrelated texts (about 0.5, the stores' similarity floor):
 * half of every vector is one shared direction (component 0), the other half a hashed bag of the
 * text's content words, so the cosine of two texts is (1 + their bag-of-words cosine) / 2.
 */
export function bagOfWordsVector(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const buckets = Math.max(1, dimensions - 1);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    if (STOP_WORDS.has(word)) continue;
    let hash = 2166136261;
    for (const character of word) hash = Math.imul(hash ^ character.charCodeAt(0), 16777619) >>> 0;
    vector[(1 + (hash % buckets)) % dimensions] += (hash >>> 16) & 1 ? 1 : -1;
  }
  const length = Math.hypot(...vector.slice(1));
  if (length === 0) return vector.map((_value, index) => (index === 0 ? 1 : 0));
  return vector.map((value, index) => (index === 0 ? 1 : value / length) / Math.SQRT2);
}
