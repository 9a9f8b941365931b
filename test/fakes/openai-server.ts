/**
 * A loopback fake of an OpenAI-compatible server for the `openai` SDK with `baseURL` pointed at
 * `<url>/v1`. It serves `POST /v1/chat/completions` (answered by the model brain),
 * `POST /v1/embeddings` (deterministic bag-of-words vectors) and `GET /v1/models/{id}`, with
 * OpenAI's error body (`{ error: { message, type, param, code } }`) and `x-request-id` header. Like
 * a strict server it refuses a `response_format` it cannot honour and, when `dialect` is `openai`,
 * `max_tokens` (OpenAI's reasoning models answer 400 `unsupported_parameter`).
 */
import { randomUUID } from 'node:crypto';
import { answerPrompt, countTokens } from './model-brain.js';
import { bagOfWordsVector } from './gemini-server.js';
import { startScriptedServer, type FakeServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export type { FakeServer, RecordedRequest, ScriptedResponse };

/** Options of {@link startFakeOpenAI}. */
export interface FakeOpenAIOptions {
  /** When set, any other bearer key is refused as OpenAI does: 401 invalid_api_key. Unset: no key needed (a local server). */
  apiKey?: string;
  /** `openai` refuses `max_tokens` as OpenAI's reasoning models do; `compatible` (default) takes either. */
  dialect?: 'openai' | 'compatible';
  /** Size of the embeddings served when the request names no `dimensions` (a local model's fixed size). */
  embeddingDimensions?: number;
}

/** Starts the fake; with nothing enqueued it answers like a well-behaved model. */
export function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeServer> {
  return startScriptedServer(
    (request) => {
      if (options.apiKey !== undefined && presentedKey(request) !== options.apiKey) {
        return openaiErrorResponse(
          401,
          'invalid_request_error',
          'Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.',
          {
            code: 'invalid_api_key',
          },
        );
      }
      if (request.method === 'POST' && request.path === '/v1/chat/completions') return createCompletion(request.body, options);
      if (request.method === 'POST' && request.path === '/v1/embeddings') return createEmbeddings(request.body, options);
      const model = /^\/v1\/models\/([^/]+)$/.exec(request.path);
      if (model && request.method === 'GET') {
        return model[1] === 'missing-model'
          ? openaiErrorResponse(404, 'invalid_request_error', `The model '${model[1]}' does not exist`, { code: 'model_not_found' })
          : { status: 200, body: { id: model[1], object: 'model', created: 1_700_000_000, owned_by: 'fake' } };
      }
      return openaiErrorResponse(404, 'invalid_request_error', `Unknown request URL: ${request.method} ${request.path}`, { code: 'unknown_url' });
    },
    { 'x-request-id': `req_fake_${randomUUID().replaceAll('-', '')}` },
  );
}

/**
 * An OpenAI error answer, e.g. `openaiErrorResponse(429, 'rate_limit_exceeded', '…', { retryAfter: '7' })`;
 * `retryAfterMs` sets OpenAI's own `retry-after-ms` header.
 */
export function openaiErrorResponse(
  status: number,
  type: string,
  message: string,
  extra: { code?: string; param?: string; retryAfter?: string; retryAfterMs?: string; delayMs?: number } = {},
): ScriptedResponse {
  const headers: Record<string, string> = {};
  if (extra.retryAfter) headers['retry-after'] = extra.retryAfter;
  if (extra.retryAfterMs) headers['retry-after-ms'] = extra.retryAfterMs;
  return { status, body: { error: { message, type, param: extra.param ?? null, code: extra.code ?? null } }, headers, delayMs: extra.delayMs };
}

/** A successful completion whose message text is `text`, e.g. malformed output for a test. */
export function openaiTextResponse(
  text: string,
  options: { model?: string; delayMs?: number; finishReason?: string; refusal?: string } = {},
): ScriptedResponse {
  return {
    status: 200,
    delayMs: options.delayMs,
    body: completionBody(options.model ?? 'gpt-fake', text, 10, options.finishReason ?? 'stop', options.refusal),
  };
}

function completionBody(model: string, text: string, promptTokens: number, finishReason: string, refusal?: string) {
  const completionTokens = countTokens(text);
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: refusal ? null : text, refusal: refusal ?? null },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

function presentedKey(request: RecordedRequest): string | undefined {
  return /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
}

interface CompletionBody {
  model?: string;
  messages?: Array<{ role?: string; content?: string | Array<{ type?: string; text?: string }> }>;
  max_tokens?: number;
  max_completion_tokens?: number;
  response_format?: { type?: string; json_schema?: { name?: string; schema?: { type?: string; required?: string[] }; strict?: boolean } };
}

async function createCompletion(body: unknown, options: FakeOpenAIOptions): Promise<ScriptedResponse> {
  const request = (body ?? {}) as CompletionBody;
  if (!request.model)
    return openaiErrorResponse(400, 'invalid_request_error', "Missing required parameter: 'model'.", { param: 'model', code: 'missing_required_parameter' });
  if (options.dialect === 'openai' && request.max_tokens !== undefined) {
    return openaiErrorResponse(
      400,
      'invalid_request_error',
      "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      { param: 'max_tokens', code: 'unsupported_parameter' },
    );
  }
  const format = request.response_format;
  if (format && !['text', 'json_object', 'json_schema'].includes(format.type ?? '')) {
    return openaiErrorResponse(
      400,
      'invalid_request_error',
      `Invalid value: '${format.type}'. Supported values are: 'json_object', 'json_schema', and 'text'.`,
      {
        param: 'response_format.type',
        code: 'invalid_value',
      },
    );
  }
  if (format?.type === 'json_schema' && (!format.json_schema?.name || format.json_schema.schema?.type !== 'object')) {
    return openaiErrorResponse(400, 'invalid_request_error', "Missing required parameter: 'response_format.json_schema'.", {
      param: 'response_format.json_schema',
      code: 'missing_required_parameter',
    });
  }
  const messages = request.messages ?? [];
  const text = (message: (typeof messages)[number]) =>
    typeof message.content === 'string' ? message.content : (message.content ?? []).map((part) => part.text ?? '').join('');
  const userTurns = messages.filter((message) => message.role === 'user');
  if (userTurns.length === 0) {
    return openaiErrorResponse(400, 'invalid_request_error', "Invalid 'messages': expected at least one user message.", {
      param: 'messages',
      code: 'invalid_value',
    });
  }
  // JSON mode, as OpenAI enforces it: the conversation must mention JSON.
  if (format?.type === 'json_object' && !messages.some((message) => /json/i.test(text(message)))) {
    return openaiErrorResponse(
      400,
      'invalid_request_error',
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
      {
        param: 'messages',
      },
    );
  }
  // A repair turn repeats the task; the first user turn holds the prompt with the email.
  const answer = await answerPrompt(text(userTurns[0]));
  return { status: 200, body: completionBody(request.model, answer, countTokens(messages.map(text).join(' ')), 'stop') };
}

interface EmbeddingsBody {
  model?: string;
  input?: string | string[];
  dimensions?: number;
}

function createEmbeddings(body: unknown, options: FakeOpenAIOptions): ScriptedResponse {
  const request = (body ?? {}) as EmbeddingsBody;
  if (!request.model) return openaiErrorResponse(400, 'invalid_request_error', "Missing required parameter: 'model'.", { param: 'model' });
  const inputs = typeof request.input === 'string' ? [request.input] : (request.input ?? []);
  if (inputs.length === 0 || inputs.length > 2048) {
    return openaiErrorResponse(400, 'invalid_request_error', "Invalid 'input': expected between 1 and 2048 inputs.", { param: 'input' });
  }
  const dimensions = request.dimensions ?? options.embeddingDimensions ?? 1536;
  // Served in reverse order: the answer's `index` is what ties a vector to its input.
  const data = inputs.map((input, index) => ({ object: 'embedding', index, embedding: bagOfWordsVector(input, dimensions) })).reverse();
  const tokens = countTokens(inputs.join(' '));
  return { status: 200, body: { object: 'list', data, model: request.model, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
}
