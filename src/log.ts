/**
 * Logging with winston: JSON lines off a terminal, readable lines on one. Lines about a message
 * carry `role`, `message_id` and `email_id` (use `logger.child({ message_id, email_id })`).
 */
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: 'debug' | 'info' | 'warn' | 'error';
  format: 'auto' | 'json' | 'pretty';
  role: string;
}

/** Field names whose values are never written to a log, whatever the level. */
const SECRET_FIELDS = /pass(word)?|secret|token|api[_-]?key|authorization|credential/i;

const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_FIELDS.test(key)) info[key] = '[redacted]';
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
