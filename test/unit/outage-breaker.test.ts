import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/lib/log.js';
import { permanentError, transientError } from '../../src/lib/errors.js';
import { ProviderCallError } from '../../src/providers/llm/errors.js';
import { isOutageError, OutageBreaker } from '../../src/messaging/outage-breaker.js';
import { imapError, smtpError } from '../../src/providers/mailbox/mail-server-errors.js';

const logger = createLogger({ level: 'error', format: 'json', role: 'test' });
const options = { limitMs: 60_000, basePauseMs: 1_000, maxPauseMs: 8_000, maxHolds: 3 };
const unavailable = (retryAfterMs?: number) => new ProviderCallError('every language model failed', { code: 'llm_unavailable', retryable: true, retryAfterMs });

function breaker(now: () => number) {
  const calls: string[] = [];
  const instance = new OutageBreaker(
    options,
    {
      pause: async () => {
        calls.push('pause');
      },
      resume: async (probe) => {
        calls.push(probe ? 'probe' : 'resume');
      },
    },
    logger,
    now,
  );
  return { instance, calls };
}

test('outage errors are the retryable llm_/embedding_ failures of a dependency and an unreachable mail server; bad input and permanent errors are not', () => {
  for (const code of ['llm_unavailable', 'llm_quota', 'llm_server_error', 'llm_timeout', 'llm_unreachable', 'embedding_quota', 'embedding_timeout']) {
    assert.equal(isOutageError(transientError(code, 'x')), true, code);
  }
  const smtp = (fields: Record<string, unknown>) => smtpError('send', Object.assign(new Error('smtp'), fields));
  for (const error of [
    smtp({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED' }),
    smtp({ code: 'ETIMEDOUT' }),
    smtp({ code: 'EDNS' }),
    smtp({ code: 'EPROTOCOL', command: 'CONN', responseCode: 421 }),
    smtp({ code: 'EPROTOCOL', command: 'CONN', responseCode: 450 }),
    smtp({ code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 454 }),
    smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 421 }),
    imapError('connect', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
    imapError('fetch', Object.assign(new Error('gone'), { code: 'NoConnection' })),
    imapError('login', Object.assign(new Error('busy'), { serverResponseCode: 'UNAVAILABLE' })),
  ]) {
    assert.equal(isOutageError(error), true, error.message);
  }
  for (const error of [
    transientError('llm_malformed_output', 'x'),
    transientError('llm_aborted', 'x'),
    permanentError('llm_unauthorized', 'x'),
    new Error('boom'),
    transientError('mailbox_io', 'x'),
    // One message's own failures: greylisted (retried as usual), refused for good, a command the server said NO to.
    smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 451 }),
    smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550 }),
    smtp({ code: 'EMESSAGE', command: 'DATA', responseCode: 552 }),
    smtp({ code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 535 }),
    imapError('append', Object.assign(new Error('no'), { serverResponseCode: 'OVERQUOTA' })),
    imapError('login', Object.assign(new Error('no'), { authenticationFailed: true })),
  ]) {
    assert.equal(isOutageError(error), false, String((error as { code?: string }).code ?? error.message));
  }
});

test('tripped: pause at once, probe after the pause; each failed probe doubles it up to the maximum; a retry-after longer than the backoff wins', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { instance, calls } = breaker(() => 0);
  instance.tripped(unavailable());
  assert.deepEqual(calls, ['pause']);
  assert.equal(instance.inOutage, true);
  instance.tripped(unavailable()); // already paused: nothing more
  t.mock.timers.tick(999);
  assert.deepEqual(calls, ['pause']);
  t.mock.timers.tick(1);
  assert.deepEqual(calls, ['pause', 'probe']);
  // The probe fails: 2 s, then 4 s, 8 s, 8 s.
  for (const pause of [2_000, 4_000, 8_000, 8_000]) {
    instance.tripped(unavailable());
    t.mock.timers.tick(pause - 1);
    assert.equal(calls.at(-1), 'pause', `still paused before ${pause} ms`);
    t.mock.timers.tick(1);
    assert.equal(calls.at(-1), 'probe', `probing after ${pause} ms`);
  }
  // A provider asking for 7.5 s while the backoff would be 8 s: the longer one; 30 s is cut to the maximum.
  instance.succeeded();
  assert.equal(calls.at(-1), 'resume');
  assert.equal(instance.inOutage, false);
  instance.tripped(unavailable(7_500));
  t.mock.timers.tick(7_499);
  assert.equal(calls.at(-1), 'pause');
  t.mock.timers.tick(1);
  assert.equal(calls.at(-1), 'probe');
  instance.tripped(unavailable(30_000));
  t.mock.timers.tick(8_000);
  assert.equal(calls.at(-1), 'probe');
});

test('a success resumes work only after a probe; a success while paused (work already in flight) changes nothing', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { instance, calls } = breaker(() => 0);
  instance.succeeded();
  assert.deepEqual(calls, [], 'no outage: nothing to resume');
  instance.tripped(unavailable());
  instance.succeeded();
  assert.deepEqual(calls, ['pause'], 'paused: an in-flight success does not end the pause');
  t.mock.timers.tick(1_000);
  instance.succeeded();
  assert.deepEqual(calls, ['pause', 'probe', 'resume']);
});

test('shouldHold: outage errors only, fewer holds than the maximum, and never once the outage outlasted its limit', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const { instance } = breaker(() => clock);
  assert.equal(instance.shouldHold(unavailable(), 0), true);
  assert.equal(instance.shouldHold(unavailable(), 2), true);
  assert.equal(instance.shouldHold(unavailable(), 3), false, 'held 3 times already: fails as usual');
  assert.equal(instance.shouldHold(transientError('llm_malformed_output', 'x'), 0), false);
  instance.tripped(unavailable());
  clock = 59_999;
  assert.equal(instance.shouldHold(unavailable(), 0), true);
  clock = 60_000;
  assert.equal(instance.shouldHold(unavailable(), 0), false, 'the outage is over its limit: failures count again');
  const off = new OutageBreaker({ ...options, limitMs: 0 }, { pause: async () => {}, resume: async () => {} }, logger);
  assert.equal(off.shouldHold(unavailable(), 0), false, 'limit 0 turns it off');
  instance.stop();
});
