/**
 * The contract every Cache implementation passes (in-process LRU, Redis): misses, JSON
 * round-trips, independent copies, overwrites and TTL expiry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Cache } from '../../src/providers/cache/spec.js';

/** A fresh key per test, so tests never see each other's values. */
const freshKey = (label: string) => `${label}:${randomUUID()}`;

/**
 * Registers the Cache contract tests under `describe(name)`. `makeCache` is called once, before
 * the tests; `cleanUp`, when given, runs after the cache is closed (e.g. to delete test keys).
 */
export function cacheContract(name: string, makeCache: () => Promise<Cache> | Cache, cleanUp?: () => Promise<void>): void {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;
    before(async () => {
      cache = await makeCache();
    });
    after(async () => {
      await cache.close();
      await cleanUp?.();
    });

    test('names its provider', () => {
      assert.ok(cache.provider.length > 0);
    });

    test('a key never set is a miss', async () => {
      assert.equal(await cache.get(freshKey('absent')), undefined);
    });

    test('a structured value comes back equal, through JSON', async () => {
      const key = freshKey('structured');
      const value = {
        text: 'Réinitialiser le routeur — 10 s ✓',
        score: 0.8125,
        count: 3,
        flags: [true, false, null],
        nested: { chunks: [{ page: 3, vector: [0.1, -0.25, 1e-7] }] },
        at: new Date('2024-05-01T12:00:00.000Z'),
      };
      await cache.set(key, value, 60);
      assert.deepEqual(await cache.get(key), { ...value, at: '2024-05-01T12:00:00.000Z' });
    });

    test('falsy values are hits, not misses', async () => {
      for (const value of [0, false, '', null, []]) {
        const key = freshKey('falsy');
        await cache.set(key, value, 60);
        assert.deepEqual(await cache.get(key), value, `value ${JSON.stringify(value)}`);
      }
    });

    test('undefined is not stored', async () => {
      const key = freshKey('undefined');
      await cache.set(key, undefined, 60);
      assert.equal(await cache.get(key), undefined);
    });

    test('each get returns its own copy: changing it leaves the cached value alone', async () => {
      const key = freshKey('copy');
      await cache.set(key, { list: [1, 2] }, 60);
      const first = await cache.get<{ list: number[] }>(key);
      first?.list.push(3);
      assert.deepEqual(await cache.get(key), { list: [1, 2] });
    });

    test('a second set replaces the value, and keys do not share values', async () => {
      const key = freshKey('overwrite');
      const other = freshKey('other');
      await cache.set(key, 'first', 60);
      await cache.set(other, 'untouched', 60);
      await cache.set(key, 'second', 60);
      assert.equal(await cache.get(key), 'second');
      assert.equal(await cache.get(other), 'untouched');
    });

    test('a value expires after its TTL while a longer-lived one stays', async () => {
      const shortLived = freshKey('short');
      const longLived = freshKey('long');
      await cache.set(shortLived, 'soon gone', 0.3);
      await cache.set(longLived, 'still here', 60);
      assert.equal(await cache.get(shortLived), 'soon gone');
      await delay(450);
      assert.equal(await cache.get(shortLived), undefined);
      assert.equal(await cache.get(longLived), 'still here');
    });

    test('setting a key again restarts its TTL', async () => {
      const key = freshKey('renewed');
      await cache.set(key, 'old', 0.3);
      await delay(200);
      await cache.set(key, 'new', 60);
      await delay(250);
      assert.equal(await cache.get(key), 'new');
    });
  });
}
