import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/store/rate-limiter.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_000): { now: () => number; advance: (milliseconds: number) => void } {
  let current = start;
  return {
    now: () => current,
    advance: (milliseconds) => {
      current += milliseconds;
    },
  };
}

test('a full bucket allows a burst of its capacity, then refuses', () => {
  const clock = manualClock();
  const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 1, now: clock.now });
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(2), true);
  assert.equal(bucket.tryTake(), false);
});

test('tokens refill at the configured rate, never above capacity', () => {
  const clock = manualClock();
  const bucket = new TokenBucket({ capacity: 2, refillPerSecond: 4, now: clock.now });
  bucket.tryTake(2);
  assert.equal(bucket.msUntilAvailable(), 250);
  assert.equal(bucket.msUntilAvailable(2), 500);
  clock.advance(249);
  assert.equal(bucket.tryTake(), false);
  assert.equal(bucket.msUntilAvailable(), 1);
  clock.advance(1);
  assert.equal(bucket.tryTake(), true);
  clock.advance(60_000);
  assert.equal(bucket.msUntilAvailable(2), 0);
  assert.equal(bucket.tryTake(2), true);
  assert.equal(bucket.tryTake(), false, 'a long idle time refills only up to capacity');
});

test('msUntilAvailable is infinite for more than the capacity or a bucket that never refills', () => {
  const clock = manualClock();
  assert.equal(new TokenBucket({ capacity: 2, refillPerSecond: 1, now: clock.now }).msUntilAvailable(3), Infinity);
  const frozen = new TokenBucket({ capacity: 1, refillPerSecond: 0, now: clock.now });
  frozen.tryTake();
  clock.advance(1_000_000);
  assert.equal(frozen.msUntilAvailable(), Infinity);
  assert.equal(frozen.tryTake(), false);
});

test('invalid options are refused', () => {
  assert.throws(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }), RangeError);
  assert.throws(() => new TokenBucket({ capacity: 1, refillPerSecond: -1 }), RangeError);
  assert.throws(() => new TokenBucket({ capacity: Number.NaN, refillPerSecond: 1 }), RangeError);
});

test('take waits for the refill with the real clock', async () => {
  const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 20 });
  await bucket.take();
  const started = performance.now();
  await bucket.take();
  const waited = performance.now() - started;
  assert.ok(waited >= 40, `waited ${waited} ms for a token that takes 50 ms to refill`);
  assert.ok(waited < 1000, `waited ${waited} ms, far longer than the refill time`);
});

test('concurrent takers share the tokens: n takes need n - capacity refills', async () => {
  const bucket = new TokenBucket({ capacity: 2, refillPerSecond: 50 });
  const started = performance.now();
  await Promise.all(Array.from({ length: 5 }, () => bucket.take()));
  const waited = performance.now() - started;
  assert.ok(waited >= 55, `5 takes from a 2-token bucket at 50/s need about 60 ms, took ${waited}`);
  assert.equal(bucket.tryTake(), false, 'no token was created out of thin air');
});

test('take is abortable and takes no token when aborted', async () => {
  const clock = manualClock();
  const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 0.001, now: clock.now });
  bucket.tryTake();
  const controller = new AbortController();
  const waiting = bucket.take(controller.signal);
  setTimeout(() => controller.abort(new Error('shutting down')), 20);
  await assert.rejects(waiting, /shutting down/);
  clock.advance(1000 / 0.001);
  assert.equal(bucket.tryTake(), true, 'the refilled token is still there');
});

test('take rejects at once with an already aborted signal, even when a token is free', async () => {
  const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
  await assert.rejects(bucket.take(AbortSignal.abort(new Error('already stopped'))), /already stopped/);
  assert.equal(bucket.tryTake(), true);
});

test('take on a bucket that never refills waits for the abort, or refuses without a signal', async () => {
  const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 0 });
  await bucket.take();
  await assert.rejects(bucket.take(), RangeError);
  await assert.rejects(bucket.take(AbortSignal.timeout(30)), { name: 'TimeoutError' });
});
