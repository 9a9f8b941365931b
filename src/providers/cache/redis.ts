/**
 * The Redis cache (ioredis), shared by every worker on every host. Redis is an optimisation here,
 * never a dependency: while it is unreachable every lookup is a miss and every store a no-op, one
 * warning is logged per outage, and the client reconnects in the background.
 *
 * {@link connectRedis} holds the connection policy that the Redis send claims use as well.
 */
import { Redis, ReplyError } from 'ioredis';
import type { Logger } from '../../lib/log.js';
import { ttlMilliseconds, type Cache } from './spec.js';

/** Connection settings shared by the Redis cache and the Redis send claims. */
export interface RedisConnectionSettings {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  logger: Logger;
  /** Longest wait for the TCP connection, at start and on each reconnect. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** A command without an answer within this time fails (and counts as an outage). Default 500 ms. */
  commandTimeoutMs?: number;
  /** Longest pause between background reconnect attempts. Default 2000 ms. */
  reconnectMaxDelayMs?: number;
}

/** Options of {@link connectRedis}. */
export interface RedisConnectionOptions extends RedisConnectionSettings {
  /** What degrades while Redis is unreachable, said once in the outage warning. */
  degradation: string;
}

/** Answer of {@link RedisConnection.run}: the command's value, or why it did not run. */
export type RedisOutcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A Redis connection that fails fast instead of queueing while Redis is away. */
export interface RedisConnection {
  /** Where Redis is, without credentials, for logs. */
  readonly address: string;
  /**
   * Runs `command` if Redis is reachable. Never throws and never waits past the command timeout:
   * an outage or a command error comes back as `{ ok: false }`.
   */
  run<T>(command: (client: Redis) => Promise<T>): Promise<RedisOutcome<T>>;
  close(): Promise<void>;
}

/** `host:port` of a Redis URL; credentials never reach a log line. */
function addressOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'redis (unparseable URL)';
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * Opens a Redis connection for best-effort use. ioredis would by default queue commands while
 * disconnected and retry each up to 20 times, so a call could hang for minutes; here commands fail
 * at once while disconnected (`enableOfflineQueue: false`), are retried at most once
 * (`maxRetriesPerRequest: 1`) and time out, while the client keeps reconnecting in the background.
 */
export function connectRedis(options: RedisConnectionOptions): RedisConnection {
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 500;
  const reconnectMaxDelayMs = options.reconnectMaxDelayMs ?? 2000;
  const address = addressOf(options.url);
  const { logger } = options;
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 10), reconnectMaxDelayMs),
  });

  // Only for logging: one warning when an outage starts, one line when it ends.
  let state: 'starting' | 'up' | 'down' | 'closed' = 'starting';
  let startupDone: () => void = () => {};
  // The first calls wait for the initial connection instead of reporting an outage that is not one.
  const startup = new Promise<void>((resolve) => {
    startupDone = resolve;
  });
  const startupTimer = setTimeout(() => markDown(new Error(`no connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
  startupTimer.unref();

  function markDown(cause: unknown): void {
    clearTimeout(startupTimer);
    startupDone();
    if (state === 'down' || state === 'closed') return;
    state = 'down';
    logger.warn(`Redis unreachable; ${options.degradation}`, { redis: address, error: asError(cause).message });
  }

  function markUp(): void {
    clearTimeout(startupTimer);
    startupDone();
    if (state === 'closed') return;
    if (state === 'down') logger.info('Redis reachable again', { redis: address });
    state = 'up';
  }

  client.on('ready', markUp);
  // Without a listener ioredis prints every failed reconnect attempt to the console.
  client.on('error', markDown);
  client.on('close', () => markDown(new Error('connection closed')));

  async function run<T>(command: (redis: Redis) => Promise<T>): Promise<RedisOutcome<T>> {
    if (state === 'starting') await startup;
    if (state === 'closed') return { ok: false, error: new Error('Redis connection closed') };
    if (client.status !== 'ready') {
      const error = new Error(`Redis not connected (${client.status})`);
      markDown(error);
      return { ok: false, error };
    }
    // ioredis's commandTimeout covers a command once sent; this bound covers everything else too.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis gave no answer within ${commandTimeoutMs} ms`)), commandTimeoutMs + 250);
    });
    try {
      const value = await Promise.race([command(client), deadline]);
      markUp();
      return { ok: true, value };
    } catch (caught) {
      const error = asError(caught);
      // Redis answered, with an error: the connection is fine, the command is not.
      if (error instanceof ReplyError) logger.warn('Redis command failed', { redis: address, error: error.message });
      else markDown(error);
      return { ok: false, error };
    } finally {
      clearTimeout(timer);
    }
  }

  async function close(): Promise<void> {
    state = 'closed';
    clearTimeout(startupTimer);
    startupDone();
    if (client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      const patience = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, commandTimeoutMs);
      });
      await Promise.race([client.quit().catch(() => undefined), patience]);
      clearTimeout(timer);
    }
    client.disconnect();
  }

  return { address, run, close };
}

/** Options of {@link createRedisCache}. */
export interface RedisCacheOptions extends RedisConnectionSettings {
  /** Prepended to every key, so several deployments can share one Redis. Default `ragmail:cache:`. */
  keyPrefix?: string;
}

/** A cache in Redis that answers misses, without throwing, while Redis is unreachable. */
export function createRedisCache(options: RedisCacheOptions): Cache {
  const keyPrefix = options.keyPrefix ?? 'ragmail:cache:';
  const connection = connectRedis({ ...options, degradation: 'caching is off until it returns (lookups miss, stores are skipped)' });

  return {
    provider: 'redis',

    async get<T>(key: string): Promise<T | undefined> {
      const outcome = await connection.run((client) => client.get(keyPrefix + key));
      if (!outcome.ok || outcome.value === null) return undefined;
      try {
        return JSON.parse(outcome.value) as T;
      } catch {
        // Something else wrote this key; a miss is still a correct answer.
        return undefined;
      }
    },

    async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
      const json = JSON.stringify(value);
      if (json === undefined) return;
      await connection.run((client) => client.set(keyPrefix + key, json, 'PX', ttlMilliseconds(ttlSeconds)));
    },

    close: () => connection.close(),
  };
}
