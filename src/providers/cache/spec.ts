/**
 * The cache contract: a shared key-value cache of JSON values with a time to live, used for query
 * embeddings and retrieval results. A cache is an optimisation only: a miss is always a correct
 * answer, so an implementation whose backend is down answers misses instead of failing.
 */

export interface Cache {
  /** Implementation name, e.g. `memory` or `redis`. */
  readonly provider: string;
  /**
   * The value stored under `key`, or undefined when absent, expired, evicted or unreachable.
   * The caller gets its own copy: changing it does not change the cached value.
   */
  get<T>(key: string): Promise<T | undefined>;
  /**
   * Stores `value` under `key` for `ttlSeconds` (fractions allowed). Values round-trip through
   * JSON (`Date`s come back as strings; `undefined` is not stored). Never throws for an unreachable
   * backend: the value is simply not cached.
   */
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  /** Releases connections; later calls answer misses. */
  close(): Promise<void>;
}

/** Milliseconds of a TTL in seconds, at least 1 ms, so a tiny TTL still expires rather than never. */
export function ttlMilliseconds(ttlSeconds: number): number {
  return Math.max(1, Math.round(ttlSeconds * 1000));
}
