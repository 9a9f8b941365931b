/**
 * A loopback fake of the Anthropic API for `@anthropic-ai/sdk` with `baseURL` pointed at it. It
 * serves `POST /v1/messages` (answered by the model brain) and `GET /v1/models/{id}`, with
 * Anthropic's error body (`{ type: 'error', error: { type, message } }`) and `request-id` header.
 */
import { randomUUID } from 'node:crypto';
import { answerPrompt, countTokens } from './model-brain.js';
import { startScriptedServer, type FakeServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export type { FakeServer, RecordedRequest, ScriptedResponse };

/** Options of {@link startFakeAnthropic}. */
export interface FakeAnthropicOptions {
  /**
   * When set, any other key is refused as Anthropic does: 401 authentication_error. The key may come
   * as `x-api-key` or, as SDK 1.x sends it, `authorization: Bearer <key>`.
   */
  apiKey?: string;
}

/** Starts the fake; with nothing enqueued it answers like a well-behaved model. */
export function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeServer> {
  return startScriptedServer(
    (request) => {
      if (options.apiKey !== undefined && presentedKey(request) !== options.apiKey) {
        return anthropicErrorResponse(401, 'authentication_error', 'invalid x-api-key');
      }
      if (request.method === 'POST' && request.path === '/v1/messages') return createMessage(request.body);
      const model = /^\/v1\/models\/([^/]+)$/.exec(request.path);
      if (model && request.method === 'GET') {
        return { status: 200, body: { type: 'model', id: model[1], display_name: model[1], created_at: '2025-09-29T00:00:00Z' } };
      }
      return anthropicErrorResponse(404, 'not_found_error', `Not found: ${request.method} ${request.path}`);
    },
    { 'request-id': `req_fake_${randomUUID()}` },
  );
}

/**
 * An Anthropic error answer, e.g. `anthropicErrorResponse(429, 'rate_limit_error', '…', { retryAfter: '7' })`;
 * 529 is `overloaded_error`.
 */
export function anthropicErrorResponse(status: number, type: string, message: string, extra: { retryAfter?: string; delayMs?: number } = {}): ScriptedResponse {
  return {
    status,
    body: { type: 'error', error: { type, message } },
    headers: extra.retryAfter ? { 'retry-after': extra.retryAfter } : {},
    delayMs: extra.delayMs,
  };
}

/** A successful message whose text is `text`, e.g. malformed output for a test. */
export function anthropicTextResponse(text: string, model = 'claude-fake', delayMs?: number): ScriptedResponse {
  return { status: 200, delayMs, body: messageBody(model, text, 10) };
}

function messageBody(model: string, text: string, inputTokens: number) {
  return {
    id: `msg_fake_${randomUUID().replaceAll('-', '')}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: inputTokens, output_tokens: countTokens(text), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

function presentedKey(request: RecordedRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') return header;
  return /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
}

interface MessagesBody {
  model?: string;
  max_tokens?: number;
  system?: string | Array<{ text?: string }>;
  messages?: Array<{ role?: string; content?: string | Array<{ type?: string; text?: string }> }>;
}

async function createMessage(body: unknown): Promise<ScriptedResponse> {
  const request = (body ?? {}) as MessagesBody;
  if (!request.model) return anthropicErrorResponse(400, 'invalid_request_error', 'model: Field required');
  if (typeof request.max_tokens !== 'number') return anthropicErrorResponse(400, 'invalid_request_error', 'max_tokens: Field required');
  const texts = (request.messages ?? []).map((message) =>
    typeof message.content === 'string' ? message.content : (message.content ?? []).map((block) => block.text ?? '').join(''),
  );
  if (texts.length === 0 || request.messages?.[0]?.role !== 'user') {
    return anthropicErrorResponse(400, 'invalid_request_error', 'messages: the first message must use the "user" role');
  }
  // A repair turn repeats the task; the first user turn holds the prompt with the email.
  const answer = await answerPrompt(texts[0]);
  const system = typeof request.system === 'string' ? request.system : (request.system ?? []).map((block) => block.text ?? '').join('');
  return { status: 200, body: messageBody(request.model, answer, countTokens([system, ...texts].join(' '))) };
}
