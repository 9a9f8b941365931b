/**
 * Errors that cross a boundary say whether they are worth retrying. The consumer runtime turns
 * `retryable` into "retry later" or "dead-letter now"; an error without the flag is retryable.
 */
export class RagmailError extends Error {
  /** Stable machine-readable code, e.g. `validation_failed`, `llm_quota`. */
  readonly code: string;
  /** True when the same work may succeed later (timeouts, 429, 5xx, resets). */
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'RagmailError';
    this.code = options.code;
    this.retryable = options.retryable;
  }
}

/** An error that will fail again however often it is retried: dead-letter at once. */
export function permanentError(code: string, message: string, cause?: unknown): RagmailError {
  return new RagmailError(message, { code, retryable: false, cause });
}

/** An error that may pass on a later attempt. */
export function transientError(code: string, message: string, cause?: unknown): RagmailError {
  return new RagmailError(message, { code, retryable: true, cause });
}

/** Unknown errors are retryable up to the attempt limit (STYLE.md, Errors). */
export function isRetryable(error: unknown): boolean {
  if (error && typeof error === 'object' && 'retryable' in error) {
    return Boolean((error as { retryable: unknown }).retryable);
  }
  return true;
}

/** The pause an error asks for before the next attempt (a provider's `retry-after`), in ms, if any. */
export function retryAfterMsOf(error: unknown): number | undefined {
  const value = error && typeof error === 'object' && 'retryAfterMs' in error ? (error as { retryAfterMs: unknown }).retryAfterMs : undefined;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** The stable code of an error, or its class name when it has none. */
export function errorCode(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return error instanceof Error ? error.name : 'unknown_error';
}

/** HTTP statuses worth retrying: request timeout, conflict, too many requests, server errors. */
export function isRetryableHttpStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}
