import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import winston from 'winston';
import { cleanLogText, createLogger, type LoggerOptions } from '../../src/lib/log.js';
import { CRAFTED_INPUT_LIMIT_MS, withinTime } from '../helpers/time-limit.js';

/** A logger made by createLogger whose formatted lines are also captured, as they would be printed. */
function capturedLogger(format: LoggerOptions['format'], level: LoggerOptions['level'] = 'info') {
  const logger = createLogger({ level, format, role: 'test' });
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  // The console transport would print the same lines; silence it so the test output stays clean.
  for (const transport of logger.transports) transport.silent = true;
  logger.add(new winston.transports.Stream({ stream }));
  const flushed = () => new Promise<string>((resolve) => setImmediate(() => resolve(lines.join('\n'))));
  return { logger, flushed };
}

for (const format of ['json', 'pretty'] as const) {
  test(`${format}: fields named like secrets are [redacted], at the top and nested, other fields kept`, async () => {
    const { logger, flushed } = capturedLogger(format);
    logger.warn('calling the provider', {
      password: 'hunter2',
      api_key: 'AIzaSyA-very-secret-key',
      authorization: 'Basic Z3Vlc3Q6Z3Vlc3Q=',
      request: { headers: { 'x-api-key': 'sk-nested-secret-value', accessToken: 'ya29.secret-access' } },
      passages: 3,
      input_tokens: 120,
    });
    const output = await flushed();
    for (const secret of ['hunter2', 'AIzaSyA-very-secret-key', 'Z3Vlc3Q6Z3Vlc3Q=', 'sk-nested-secret-value', 'ya29.secret-access']) {
      assert.ok(!output.includes(secret), `${secret} was printed: ${output}`);
    }
    assert.ok(output.includes('[redacted]'));
    if (format === 'json') {
      const line = JSON.parse(output) as Record<string, unknown>;
      assert.equal(line.password, '[redacted]');
      assert.equal(line.api_key, '[redacted]');
      assert.equal(line.authorization, '[redacted]');
      assert.deepEqual(line.request, { headers: { 'x-api-key': '[redacted]', accessToken: '[redacted]' } });
      assert.equal(line.passages, 3, 'passages is not a password');
      assert.equal(line.input_tokens, 120, 'a token count is not a token');
    }
  });

  test(`${format}: an AMQP URL's password is not printed, in the message or a field`, async () => {
    const { logger, flushed } = capturedLogger(format);
    logger.error('cannot connect to amqps://ragmail:s3cretPassw0rd@broker.internal:5671/prod', {
      url: 'amqp://classifier:An0therSecret@10.0.0.5:5672/ragmail',
      error: new Error('connect to http://guest:MgmtSecret@127.0.0.1:15672 failed'),
    });
    const output = await flushed();
    for (const secret of ['s3cretPassw0rd', 'An0therSecret', 'MgmtSecret']) assert.ok(!output.includes(secret), `${secret} was printed: ${output}`);
    assert.match(output, /amqps:\/\/ragmail:\*\*\*@broker\.internal:5671\/prod/, 'the rest of the URL stays, for the operator');
    assert.match(output, /amqp:\/\/classifier:\*\*\*@10\.0\.0\.5/);
  });
}

test('card numbers and keys inside logged texts are replaced, whatever the field', async () => {
  const { logger, flushed } = capturedLogger('json');
  logger.error('dead-lettering message', {
    error: 'model answer holds no JSON object: "refund card 4111 1111 1111 1111 please"',
    key: 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB',
  });
  const output = await flushed();
  assert.ok(!output.includes('4111 1111 1111 1111'));
  assert.ok(!output.includes('ghp_0123456789'));
  assert.match(output, /\[card number removed\]/);
});

test('logger.error(error) with a password in the message prints no password', async () => {
  const { logger, flushed } = capturedLogger('json');
  logger.error(new Error('login failed for amqp://admin:TopSecret1@host/ with password: TopSecret1'));
  const output = await flushed();
  assert.ok(!output.includes('TopSecret1'), output);
  assert.match(output, /login failed/);
});

test('the caller’s objects are not changed by the redaction', async () => {
  const { logger, flushed } = capturedLogger('json');
  const details = { nested: { password: 'hunter2' } };
  logger.info('with details', { details });
  await flushed();
  assert.equal(details.nested.password, 'hunter2');
});

test('debug lines are dropped at info level (where bodies may be logged)', async () => {
  const { logger, flushed } = capturedLogger('json', 'info');
  logger.debug('email body', { body: 'Hello, my router is broken' });
  logger.info('email published');
  const output = await flushed();
  assert.ok(!output.includes('router is broken'));
  assert.match(output, /email published/);
});

// Before, `\b` let every letter after a dot or dash start a scan for `://` over the rest of the run
// (about 20 s for 200 KB of `a.a.a.…`).
for (const [label, text] of [
  ['a.a.a.…', 'a.'.repeat(100_000)],
  ['sk-sk-sk-…', 'sk-'.repeat(70_000)],
] as const) {
  test(`a 200 KB log text of ${label} is cleaned in well under 2 s`, async () => {
    const cleaned = await withinTime(CRAFTED_INPUT_LIMIT_MS, `cleanLogText ${label}`, () => cleanLogText(text));
    assert.equal(cleaned.length > 0, true);
  });
}

test('URL passwords are still hidden after a dot, a dash or a word', () => {
  assert.equal(cleanLogText('see amqp://guest:hunter2@127.0.0.1:5672/'), 'see amqp://guest:***@127.0.0.1:5672/');
  assert.equal(cleanLogText('(redis+tls://:s3cret@cache:6380)'), '(redis+tls://:***@cache:6380)');
  assert.equal(cleanLogText('x.amqps://u:p@host'), 'x.amqps://u:***@host');
  assert.equal(cleanLogText('--url=-amqp://u:p@host'), '--url=-amqp://u:***@host');
});
