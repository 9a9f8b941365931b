/**
 * The dead-letter record (docs/ARCHITECTURE.md#dead-letters) the consumer runtime publishes, redacted as log lines are:
 * `dead_letter_queue` is read by operators, shown on the dashboard and kept for
 * DEAD_LETTER_MAX_AGE, so it must not become the one place where a customer's card number or a
 * password quoted in an email, or the host's directory layout, is kept.
 *
 * - The free texts of the original message ({@link FREE_TEXT_FIELDS}: what a customer, a model or
 *   a manual wrote), and the error message, go through the log redaction (src/log.ts
 *   `cleanLogText`: URL passwords, card numbers, IBANs, keys, `password: x`). A replay sends the
 *   redacted text on; nothing downstream needs the secrets.
 * - Everything else is kept exactly: ids, Message-IDs, references, addresses, paths, numbers. A
 *   replay must be the same email to the pipeline: a Message-ID `<4111111111111111@x>` redacted
 *   to `<[card number removed]@x>` would be a new email_id, and the sender's duplicate check would
 *   not find the reply already sent (the customer would get a second one).
 * - An approved reply (`review` present) keeps its reply's subject and body: the sender sends it
 *   only when it is exactly what the reviewer approved (src/review/verify.ts), and the review store
 *   keeps that text anyway.
 * - A body that is not JSON (or not an object) has no fields to tell apart: it is redacted whole.
 * - The stack trace is kept, since its function names and line numbers are what an operator needs
 *   to find the cause, but every absolute file location is cut to its path inside the project
 *   (`src/roles/classifier.ts:20:5`) or, outside it, to the file name: absolute paths tell an
 *   attacker who reads the queue where the code lives and as whom it runs, and help nobody else.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cleanLogText } from '../lib/log.js';
import { errorCode } from '../lib/errors.js';
import type { DeadLetterRecord } from '../pipeline/messages.js';

/** The folder holding src/ (and node_modules/): stack locations inside it are shown relative to it. */
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A stack frame line (`    at fn (/abs/file.ts:1:2)`); the first line of a stack is the message. */
const FRAME = /^\s+at\s/;
/** An absolute location in a frame: a path or a `file://` URL after a space or `(`, up to `:line`. */
const ABSOLUTE_LOCATION = /(?<=[\s(])(?:file:\/\/)?(\/[^\s():]+)/g;

/**
 * Where the free texts of a work-queue message are (src/pipeline/messages.ts): `*` is every item of an array.
 * The email's subject and body, the model's reasoning, the reply, the retrieved passages.
 */
const FREE_TEXT_FIELDS: ReadonlyArray<readonly string[]> = [
  ['email', 'subject'],
  ['email', 'body'],
  ['classification', 'reasoning'],
  ['generated_response', 'subject'],
  ['generated_response', 'body'],
  ['context_used', '*', 'text'],
];

/** The reply's texts, kept in an approved reply (see the file's comment). */
const APPROVED_TEXT_FIELDS = new Set(['generated_response']);

/** What the runtime knows about a failure it dead-letters. */
export interface DeadLetterFailure {
  queue: string;
  /** The original body: parsed JSON when it was JSON, else the raw text. */
  body: unknown;
  error: Error;
  retryCount: number;
  consumerId: string;
}

/** The record for `dead_letter_exchange`, redacted. */
export function buildDeadLetterRecord(failure: DeadLetterFailure): DeadLetterRecord {
  return {
    message_id: randomUUID(),
    timestamp: new Date().toISOString(),
    original_queue: failure.queue,
    original_message: redactFreeTexts(failure.body),
    failure_info: {
      error_message: cleanLogText(failure.error.message),
      error_type: errorCode(failure.error),
      retry_count: failure.retryCount,
      stack_trace: failure.error.stack ? stackWithoutPaths(cleanLogText(failure.error.stack)) : null,
      consumer_id: failure.consumerId,
    },
  };
}

/** The stack with each frame's absolute file location made relative to the project (or cut to its file name). */
export function stackWithoutPaths(stack: string): string {
  return stack
    .split('\n')
    .map((line) => (FRAME.test(line) ? line.replace(ABSOLUTE_LOCATION, (_match, file: string) => projectLocation(file)) : line))
    .join('\n');
}

function projectLocation(file: string): string {
  const relative = path.relative(PROJECT_ROOT, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.basename(file) : relative;
}

/** A copy of a message with its free texts redacted and everything else as it was; a bare text redacted whole. */
function redactFreeTexts(body: unknown): unknown {
  if (typeof body === 'string') return cleanLogText(body);
  if (!isRecord(body)) return body;
  const approved = body.review !== undefined && body.review !== null;
  return FREE_TEXT_FIELDS.filter(([top]) => !(approved && APPROVED_TEXT_FIELDS.has(top!))).reduce<unknown>((message, field) => redactAt(message, field), body);
}

/** A copy of `value` with the string at `field` redacted; the rest shared, not copied. */
function redactAt(value: unknown, [key, ...rest]: readonly string[]): unknown {
  if (key === undefined) return typeof value === 'string' ? cleanLogText(value) : value;
  if (key === '*') return Array.isArray(value) ? value.map((item) => redactAt(item, rest)) : value;
  if (!isRecord(value) || !Object.hasOwn(value, key)) return value;
  return { ...value, [key]: redactAt(value[key], rest) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
