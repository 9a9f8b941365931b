/**
 * Every benchmark runs on a RabbitMQ vhost and a data folder of its own, created through the
 * management API and deleted afterwards, so it neither sees nor disturbs anyone else's queues.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManagementClient } from '../../src/messaging/management.js';

/** Broker base URL without a vhost (BENCH_AMQP_URL), and the management API (BENCH_RABBITMQ_MANAGEMENT_URL). */
export const AMQP_BASE = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const MANAGEMENT_URL = process.env.BENCH_RABBITMQ_MANAGEMENT_URL ?? 'http://guest:guest@127.0.0.1:15672';

/** A vhost and a data folder owned by one benchmark run. */
export interface BenchVhost {
  name: string;
  /** AMQP URL whose path is this vhost. */
  amqpUrl: string;
  /** Management client scoped to this vhost. */
  management: ManagementClient;
  dataDir: string;
  /** Deletes the vhost (and every queue in it) and the data folder; safe to call twice. */
  cleanup(): Promise<void>;
}

export async function createBenchVhost(label: string): Promise<BenchVhost> {
  const name = `bench-${label}-${randomUUID()}`;
  const encoded = encodeURIComponent(name);
  const admin = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL, AMQP_URL: AMQP_BASE });
  await admin.request('PUT', `vhosts/${encoded}`, {});
  // The user of BENCH_AMQP_URL works in the new vhost.
  const user = encodeURIComponent(decodeURIComponent(new URL(AMQP_BASE).username) || 'guest');
  await admin.request('PUT', `permissions/${encoded}/${user}`, { configure: '.*', write: '.*', read: '.*' });
  const amqpUrl = `${AMQP_BASE}/${encoded}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), `ragmail-bench-${label}-`));
  let cleaned = false;
  return {
    name,
    amqpUrl,
    management: new ManagementClient({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL, AMQP_URL: amqpUrl }),
    dataDir,
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      await admin.request('DELETE', `vhosts/${encoded}`).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `body` with a fresh vhost and always cleans up, also on Ctrl-C. */
export async function withBenchVhost<T>(label: string, body: (vhost: BenchVhost) => Promise<T>): Promise<T> {
  const vhost = await createBenchVhost(label);
  const interrupted = () => {
    void vhost.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  try {
    return await body(vhost);
  } finally {
    process.off('SIGINT', interrupted);
    await vhost.cleanup();
  }
}
