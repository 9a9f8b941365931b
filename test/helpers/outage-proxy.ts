/**
 * A loopback front for a fake model API (test/fakes/) that can be switched into an outage: while
 * one is on, every request is answered the way the real API answers under trouble — 429 with a
 * retry hint, 500, or no answer before the client's timeout — in the API's own error format.
 * Otherwise requests pass through to the fake unchanged.
 */
import { anthropicErrorResponse } from '../fakes/anthropic-server.js';
import { geminiErrorResponse } from '../fakes/gemini-server.js';
import { startScriptedServer, type RecordedRequest, type ScriptedResponse } from '../fakes/scripted-http-server.js';

/** What the API does during an outage. */
export type OutageKind = 'quota' | 'server_error' | 'timeout';

export interface OutageProxy {
  url: string;
  /** The outage now on, or null when requests pass through. */
  outage: OutageKind | null;
  /** Requests answered with each outage, and passed through. */
  counts: Record<OutageKind | 'passed', number>;
  close(): Promise<void>;
}

/** Headers the SDKs send that the fake needs to see. */
const FORWARDED_HEADERS = ['content-type', 'x-goog-api-key', 'x-api-key', 'authorization', 'anthropic-version'];

async function forward(upstream: string, request: RecordedRequest, delayMs?: number): Promise<ScriptedResponse> {
  const headers = Object.fromEntries(
    FORWARDED_HEADERS.flatMap((name) => {
      const value = request.headers[name];
      return typeof value === 'string' ? [[name, value]] : [];
    }),
  );
  const response = await fetch(`${upstream}${request.path}`, {
    method: request.method,
    headers,
    body: request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: passed on as text.
  }
  return { status: response.status, body, delayMs };
}

/**
 * Starts a front for `upstream`, a fake of `api`. A `timeout` outage answers after `timeoutMs`
 * (set it above the workers' LLM_TIMEOUT_MS), so the client gives up first.
 */
export async function startOutageProxy(upstream: string, api: 'gemini' | 'anthropic', timeoutMs: number): Promise<OutageProxy> {
  const counts: OutageProxy['counts'] = { quota: 0, server_error: 0, timeout: 0, passed: 0 };
  const failure = (kind: Exclude<OutageKind, 'timeout'>): ScriptedResponse => {
    if (api === 'gemini') {
      return kind === 'quota'
        ? geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).', { retryDelay: '1s' })
        : geminiErrorResponse(
            500,
            'INTERNAL',
            'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
          );
    }
    return kind === 'quota'
      ? anthropicErrorResponse(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { retryAfter: '1' })
      : anthropicErrorResponse(500, 'api_error', 'Internal server error');
  };
  const proxy: OutageProxy = { url: '', outage: null, counts, close: async () => undefined };
  const server = await startScriptedServer(async (request) => {
    const outage = proxy.outage;
    if (outage === null) {
      counts.passed += 1;
      return forward(upstream, request);
    }
    counts[outage] += 1;
    return outage === 'timeout' ? forward(upstream, request, timeoutMs) : failure(outage);
  });
  proxy.url = server.url;
  proxy.close = () => server.close();
  return proxy;
}
