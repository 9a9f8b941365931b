/**
 * The embedded cache: an in-process LRU with a time to live per entry. Values are kept as JSON
 * text, so they behave exactly as they would through Redis (a caller's copy is its own, `Date`s
 * come back as strings) and switching implementations changes no behaviour.
 */
import { ttlMilliseconds, type Cache } from './spec.js';

/** Options of {@link createMemoryCache}. */
export interface MemoryCacheOptions {
  /** Entries kept at most; the least recently used one goes first. Default 10 000. */
  maxEntries?: number;
  /** The clock, in epoch milliseconds; tests inject one. Default `Date.now`. */
  now?: () => number;
}

interface Entry {
  json: string;
  expiresAtMs: number;
}

/** An in-process LRU cache with TTL. */
export function createMemoryCache(options: MemoryCacheOptions = {}): Cache {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  const entries = new Map<string, Entry>();

  return {
    provider: 'memory',

    async get<T>(key: string): Promise<T | undefined> {
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      if (entry.expiresAtMs <= now()) return undefined;
      entries.set(key, entry);
      return JSON.parse(entry.json) as T;
    },

    async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
      const json = JSON.stringify(value);
      if (json === undefined) return;
      entries.delete(key);
      entries.set(key, { json, expiresAtMs: now() + ttlMilliseconds(ttlSeconds) });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
    },

    async close(): Promise<void> {
      entries.clear();
    },
  };
}
