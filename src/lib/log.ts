/**
 * Logging with winston: JSON lines off a terminal, readable lines on one. Lines about a message
 * carry `role`, `message_id` and `email_id` (use `logger.child({ message_id, email_id })`).
 * Whatever the level, a line never carries secrets: fields named like one are `[redacted]`, and
 * URL passwords, card numbers and keys inside texts are replaced (src/lib/redact.ts). Email
 * bodies are logged at debug only; that is up to each call.
 */
import winston from 'winston';
import { redactSensitive } from './redact.js';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: 'debug' | 'info' | 'warn' | 'error';
  format: 'auto' | 'json' | 'pretty';
  role: string;
}

/**
 * Field names whose values are never written to a log, whatever the level: the name, split at
 * camelCase, `_` and `-`, ends with one of these words (`password`, `refresh_token`, `apiKey`,
 * `x-api-key`), so `passages` or `input_tokens` are kept.
 */
const SECRET_FIELDS = /(^|[_-])(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|(access|secret|private|signing)[_-]?key|authorization|credentials?|cookie)$/;

const isSecretField = (key: string) => SECRET_FIELDS.test(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase());

/** Fields winston itself sets; their values are not text to clean. */
const WINSTON_FIELDS = new Set(['level', 'timestamp']);

/**
 * Credentials in a URL (`amqp://user:secret@host`), wherever the URL appears in a text. The match
 * starts only where a run of scheme characters starts (`-amqp://` takes the dash along): with `\b`,
 * every letter after a dot or dash in `a.a.a.…` started a scan of the rest of the run (quadratic).
 */
const URL_CREDENTIALS = /(?<![a-z0-9+.-])([a-z0-9+.-]+:\/\/[^\s:@/]*):[^\s@/]+@/gi;

/** A text without URL passwords, card numbers, keys and `password: x` pairs. */
export function cleanLogText(text: string): string {
  return redactSensitive(text.replace(URL_CREDENTIALS, '$1:***@')).text;
}

/** A copy of a logged value with secret fields and secrets in texts removed; the caller's objects are left alone. */
function clean(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return cleanLogText(value);
  if (!value || typeof value !== 'object' || depth > 6 || seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => clean(item, depth + 1, seen));
  if (value instanceof Error) return cleanLogText(value.stack ?? value.message);
  if (value instanceof URL) return cleanLogText(value.href);
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, isSecretField(key) ? '[redacted]' : clean(item, depth + 1, seen)]));
}

const redactSecrets = winston.format((info) => {
  const seen = new WeakSet<object>();
  // `logger.error(error)` passes the Error itself, whose message and stack are not enumerable.
  if (info instanceof Error) {
    info.message = cleanLogText(info.message);
    if (info.stack) info.stack = cleanLogText(info.stack);
  }
  for (const key of Object.keys(info)) {
    if (WINSTON_FIELDS.has(key)) continue;
    info[key] = isSecretField(key) ? '[redacted]' : clean(info[key], 0, seen);
  }
  return info;
});

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const format = pretty
    ? winston.format.combine(
        redactSecrets(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level, message, role, ...rest }) => {
          const fields = Object.entries(rest)
            .filter(([key]) => key !== 'service')
            .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
            .join(' ');
          return `${timestamp} ${level} [${role}] ${message}${fields ? ` ${fields}` : ''}`;
        }),
      )
    : winston.format.combine(redactSecrets(), winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json());
  return winston.createLogger({
    level: options.level,
    defaultMeta: { role: options.role },
    format,
    // stderr keeps stdout free for command output (topology report, demo table).
    transports: [new winston.transports.Console({ stderrLevels: ['debug', 'info', 'warn', 'error'] })],
  });
}
