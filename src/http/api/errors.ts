/**
 * Errors of the operator API, and how any error becomes an HTTP answer: always
 * `{ "error": "<sentence>", "code": "<stable_code>" }` with a status that says whose fault it is.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorCode, isRetryableHttpStatus, RagmailError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

/** An error the API answers with `status` and a stable `code`. */
export class ApiError extends RagmailError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code, retryable: isRetryableHttpStatus(status), cause });
    this.name = 'ApiError';
  }
}

/** The body of every error answer. */
export interface ErrorBody {
  error: string;
  code: string;
}

/** Errors of other modules known by their stable code, and the status they mean to a client. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  review_not_found: 404,
  review_conflict: 409,
  review_body_empty: 400,
  // The approval stands and the reply is queued; only its audit event is missing.
  review_event_unpublished: 503,
};

/** Errors raised by fastify and @fastify/multipart, renamed to this API's codes. */
const FASTIFY_ERRORS: Readonly<Record<string, { status: number; code: string; message?: string }>> = {
  FST_FILES_LIMIT: { status: 413, code: 'upload_too_many_files', message: 'too many files in one upload' },
  FST_PARTS_LIMIT: { status: 413, code: 'upload_too_many_parts', message: 'too many parts in one upload' },
  FST_FIELDS_LIMIT: { status: 413, code: 'upload_too_many_fields', message: 'too many fields in one upload' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large', message: 'the request body is too large' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'not_multipart', message: 'send the upload as multipart/form-data' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'send JSON (content-type application/json)' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_request', message: 'the JSON body is empty' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_request', message: 'the body is not valid JSON' },
};

/** Status and body for any error thrown by a route. */
function describeError(error: unknown): { status: number; body: ErrorBody } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError) return { status: error.status, body: { error: message, code: error.code } };
  const code = errorCode(error);
  if (STATUS_BY_CODE[code] !== undefined) return { status: STATUS_BY_CODE[code], body: { error: message, code } };
  const known = FASTIFY_ERRORS[code];
  if (known) return { status: known.status, body: { error: known.message ?? message, code: known.code } };
  const statusCode = (error as Partial<FastifyError>).statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, body: { error: message, code: 'invalid_request' } };
  }
  // Publishing failed: the broker is down or not confirming. Worth trying again shortly.
  if (error instanceof RagmailError && error.retryable && /^(broker_closed|publish_)/.test(error.code)) {
    return { status: 503, body: { error: `the broker did not take the message: ${message}`, code: 'broker_unavailable' } };
  }
  return { status: 500, body: { error: 'internal error; see the api role log', code: 'internal_error' } };
}

/** Fastify error handler: answers with {@link describeError}; only server faults are logged above debug. */
export function errorHandler(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    // A client that hung up mid-request (a dropped upload) is no server fault, and hears no answer.
    const clientGone = request.raw.destroyed && !request.raw.complete;
    const { status, body } = clientGone
      ? { status: 400, body: { error: 'the client closed the connection before the request was complete', code: 'request_aborted' } }
      : describeError(error);
    const fields = { method: request.method, path: request.routeOptions.url ?? request.url, status, code: body.code };
    if (status >= 500) logger.error('api request failed', { ...fields, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    else logger.debug('api request refused', { ...fields, error: body.error });
    return reply.status(status).send(body);
  };
}
