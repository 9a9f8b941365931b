/**
 * The dead-letter record (DESIGN.md §3) the consumer runtime publishes, redacted as log lines are:
 * `dead_letter_queue` is read by operators, shown on the dashboard and kept for
 * DEAD_LETTER_MAX_AGE, so it must not become the one place where a customer's card number or a
 * password quoted in an email, or the host's directory layout, is kept.
 *
 * - Every text of the original message, and the error message, goes through the log redaction
 *   (src/log.ts `cleanLogText`: URL passwords, card numbers, IBANs, keys, `password: x`). A replay
 *   of the record therefore sends the redacted text on; nothing downstream needs the secrets.
 * - The stack trace is kept, since its function names and line numbers are what an operator needs
 *   to find the cause, but every absolute file location is cut to its path inside the project
 *   (`src/roles/classifier.ts:20:5`) or, outside it, to the file name: absolute paths tell an
 *   attacker who reads the queue where the code lives and as whom it runs, and help nobody else.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cleanLogText } from '../log.js';
import { errorCode } from '../errors.js';
import type { DeadLetterRecord } from './schemas.js';

/** The folder holding src/ (and node_modules/): stack locations inside it are shown relative to it. */
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A stack frame line (`    at fn (/abs/file.ts:1:2)`); the first line of a stack is the message. */
const FRAME = /^\s+at\s/;
/** An absolute location in a frame: a path or a `file://` URL after a space or `(`, up to `:line`. */
const ABSOLUTE_LOCATION = /(?<=[\s(])(?:file:\/\/)?(\/[^\s():]+)/g;

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
    original_message: redactTexts(failure.body),
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

/** A copy of a JSON value with every string redacted; keys and non-text values are kept. */
function redactTexts(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cleanLogText(value);
  if (!value || typeof value !== 'object') return value;
  // Deeper than any message of ours: the rest is kept as redacted JSON text, not walked further.
  if (depth > 64) return cleanLogText(JSON.stringify(value));
  if (Array.isArray(value)) return value.map((item) => redactTexts(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactTexts(item, depth + 1)]));
}
