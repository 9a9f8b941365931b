/**
 * Turns what a model or embedding API answered into a RagmailError that says whether a retry, or
 * the next provider of the fallback chain, may succeed (STYLE.md, Errors): quota (429), timeouts
 * and server errors (5xx, 529 overloaded) are retryable; a bad request, a bad key or a missing
 * model (400/401/403/404) is permanent, so it fails loudly instead of feeding a retry storm.
 */
import { isRetryableHttpStatus, RagmailError } from '../../lib/errors.js';

/** Which kind of call failed; it prefixes the error code (`llm_quota`, `embedding_quota`). */
export type ProviderCallKind = 'llm' | 'embedding';

/** Where a failed call went. */
export interface ProviderCallContext {
  /** Provider name, e.g. `gemini`; starts every message so a dead-letter reason names it. */
  provider: string;
  kind: ProviderCallKind;
  /** The caller's signal: an abort it asked for is not a timeout. */
  signal?: AbortSignal;
}

/**
 * A failed call to a provider's API. Besides `code` and `retryable` it keeps the HTTP status and
 * the delay the provider asked for before a retry, for a scheduler that wants to honour it.
 */
export class ProviderCallError extends RagmailError {
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** How long the provider asked to wait before retrying (RetryInfo, `retry-after`), in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown; status?: number; retryAfterMs?: number }) {
    super(message, options);
    this.name = 'ProviderCallError';
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** What an HTTP error answer said, already taken out of the provider's error body. */
export interface HttpFailure {
  status: number;
  /** The provider's own words, e.g. `Resource has been exhausted (e.g. check quota).` */
  detail: string;
  /** The provider's status name, e.g. `RESOURCE_EXHAUSTED` or `rate_limit_error`. */
  statusName?: string;
  retryAfterMs?: number;
}

/** Maps an HTTP error answer to its RagmailError; the message always carries the status. */
export function httpFailureError(context: ProviderCallContext, failure: HttpFailure, cause?: unknown): ProviderCallError {
  const { status, detail, statusName } = failure;
  // Gemini answers a wrong key with 400 INVALID_ARGUMENT; it is a key problem all the same.
  const badKey = status === 401 || status === 403 || (status === 400 && /api[ _-]?key/i.test(detail));
  let code: string;
  let what: string;
  if (status === 429) [code, what] = ['quota', 'quota or rate limit exhausted'];
  else if (status === 408) [code, what] = ['timeout', 'request timed out'];
  else if (badKey) [code, what] = ['unauthorized', 'refused the credentials'];
  else if (status >= 500) [code, what] = ['server_error', 'server error'];
  else if (isRetryableHttpStatus(status)) [code, what] = ['server_error', 'temporary failure'];
  else [code, what] = ['rejected', 'rejected the request'];
  const retryable = isRetryableHttpStatus(status) && !badKey;
  const retryHint = failure.retryAfterMs === undefined ? '' : `; retry after ${formatSeconds(failure.retryAfterMs)}`;
  const label = statusName ? `HTTP ${status} ${statusName}` : `HTTP ${status}`;
  return new ProviderCallError(`${context.provider} ${what} (${label}): ${detail}${retryHint}`, {
    code: `${context.kind}_${code}`,
    retryable,
    cause,
    status,
    retryAfterMs: failure.retryAfterMs,
  });
}

/** The request ran longer than the configured timeout. */
export function timeoutError(context: ProviderCallContext, timeoutMs: number, cause?: unknown): ProviderCallError {
  return new ProviderCallError(`${context.provider} did not answer within ${timeoutMs} ms`, {
    code: `${context.kind}_timeout`,
    retryable: true,
    cause,
  });
}

/** The caller aborted (shutdown): retryable, so the message goes back to its queue. */
export function abortedError(context: ProviderCallContext, cause?: unknown): ProviderCallError {
  const reason = context.signal?.reason instanceof Error ? `: ${context.signal.reason.message}` : '';
  return new ProviderCallError(`${context.provider} call aborted by the caller${reason}`, {
    code: `${context.kind}_aborted`,
    retryable: true,
    cause: cause ?? context.signal?.reason,
  });
}

/**
 * Maps anything else a call threw: RagmailErrors pass through, a caller's abort stays an abort, a
 * network failure (refused, reset, DNS) is retryable `*_unreachable`, the rest retryable `*_failed`.
 */
export function unexpectedError(context: ProviderCallContext, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  if (context.signal?.aborted) return abortedError(context, error);
  const message = error instanceof Error ? error.message : String(error);
  const network = error instanceof TypeError || /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket|fetch failed/i.test(message);
  return new ProviderCallError(`${context.provider} ${network ? 'is unreachable' : 'call failed'}: ${describeCause(error)}`, {
    code: `${context.kind}_${network ? 'unreachable' : 'failed'}`,
    retryable: true,
    cause: error,
  });
}

/** True for the errors fetch and the SDKs throw when a request is aborted or times out. */
export function isAbortLike(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/**
 * Reads a retry delay from a hint: a Google `RetryInfo.retryDelay` (`"7s"`, `"1.5s"`), a
 * `retry-after` header (seconds or an HTTP date), or a message like "Please retry in 7.2s".
 */
export function parseRetryDelay(hint: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!hint) return undefined;
  const text = hint.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const duration = /^(\d+(?:\.\d+)?)s$/.exec(text) ?? /retry in (\d+(?:\.\d+)?)\s*s/i.exec(text);
  if (duration) return Math.round(Number(duration[1]) * 1000);
  const milliseconds = /retry in (\d+(?:\.\d+)?)\s*ms/i.exec(text);
  if (milliseconds) return Math.round(Number(milliseconds[1]));
  const date = Date.parse(text);
  if (/[a-z]{3},/i.test(text) && Number.isFinite(date)) return Math.max(0, date - now);
  return undefined;
}

function formatSeconds(milliseconds: number): string {
  return `${Number((milliseconds / 1000).toFixed(3))}s`;
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
