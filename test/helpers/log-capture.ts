/** Reading what a worker logs, from a test. */
import { PassThrough } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/lib/log.js';

/** Every line `logger` writes at warn and above from now on, as JSON objects; its own transports go quiet. */
export function captureWarnings(logger: Logger): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new PassThrough();
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    for (const line of text.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  logger.level = 'warn';
  for (const transport of logger.transports) transport.silent = true;
  logger.add(new winston.transports.Stream({ stream, level: 'warn' }));
  return lines;
}
