/**
 * Integration-test support: every test gets a vhost of its own on the real local RabbitMQ
 * (created through the management API, deleted afterwards), and a Config pointed at it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/app/config.js';
import { createLogger, type Logger } from '../../src/lib/log.js';
import { ManagementClient } from '../../src/messaging/management.js';

export const AMQP_BASE = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const MANAGEMENT_URL = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';

export interface TestVhost {
  name: string;
  config: Config;
  management: ManagementClient;
  logger: Logger;
  dataDir: string;
  /** Deletes the vhost (and everything in it) and the data folder. */
  cleanup(): Promise<void>;
}

/** A fresh vhost and data folder; `overrides` are environment variables on top of test defaults. */
export async function createTestVhost(overrides: Record<string, string> = {}): Promise<TestVhost> {
  const name = `test-${randomUUID()}`;
  const amqpUrl = `${AMQP_BASE}/${encodeURIComponent(name)}`;
  const admin = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL, AMQP_URL: AMQP_BASE });
  await admin.request('PUT', `vhosts/${encodeURIComponent(name)}`, {});
  await admin.request('PUT', `permissions/${encodeURIComponent(name)}/guest`, { configure: '.*', write: '.*', read: '.*' });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ragmail-test-'));
  const config = loadConfig({
    AMQP_URL: amqpUrl,
    RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL,
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    LOG_FORMAT: 'json',
    RETRY_BASE_DELAY_MS: '200',
    SHUTDOWN_GRACE_MS: '5000',
    AMQP_RECONNECT_MIN_MS: '100',
    AMQP_RECONNECT_MAX_MS: '1000',
    AMQP_CONNECT_TIMEOUT_MS: '10000',
    POLL_INTERVAL_MS: '200',
    // Workers of parallel tests would collide on the default 9464.
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    ...overrides,
  });
  return {
    name,
    config,
    management: new ManagementClient(config),
    logger: createLogger({ level: config.LOG_LEVEL, format: 'json', role: 'test' }),
    dataDir,
    cleanup: async () => {
      await admin.request('DELETE', `vhosts/${encodeURIComponent(name)}`).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => Promise<T> | T, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
}
