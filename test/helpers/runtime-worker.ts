/**
 * A runnable worker for the resilience tests, spawned as a child process with
 * `node --import tsx test/helpers/runtime-worker.ts`. It runs the real Broker and ConsumerRuntime
 * on `emails.to_classify` with a test handler driven by the message body, and records what it
 * does as JSON lines in RUNTIME_WORKER_RECORD_FILE, so the test can tell which process handled
 * which message and whether the handling completed.
 *
 * Body: `{ n: number, sleepMs?: number, hang?: boolean, crash?: boolean }`. With
 * RUNTIME_WORKER_HANG=1, a `hang` message never completes (it waits for a SIGKILL); without it,
 * `hang` is ignored. A `crash` message exits the process mid-handling (exit code 70), as a worker
 * killed by its input would.
 * On SIGTERM: `runtime.stop()`, `broker.close()`, exit 0 (docs/ARCHITECTURE.md#shutdown).
 */
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime } from '../../src/messaging/consumer.js';
import { toClassify } from '../../src/pipeline/stages.js';

/** One line of the record file. */
export interface WorkerRecord {
  event: 'ready' | 'started' | 'completed' | 'stopped';
  pid: number;
  n?: number;
  attempt?: number;
  at: number;
}

const recordFile = process.env.RUNTIME_WORKER_RECORD_FILE;
if (!recordFile) throw new Error('RUNTIME_WORKER_RECORD_FILE must name the file the worker records into');
const hangOnMarker = process.env.RUNTIME_WORKER_HANG === '1';

// O_APPEND writes of one short line each: two processes can share the file without interleaving.
const record = (fields: Omit<WorkerRecord, 'pid' | 'at'>) =>
  appendFileSync(recordFile, `${JSON.stringify({ ...fields, pid: process.pid, at: Date.now() } satisfies WorkerRecord)}\n`);

const bodySchema = z.object({ n: z.number(), sleepMs: z.number().optional(), hang: z.boolean().optional(), crash: z.boolean().optional() });

const config = loadConfig(process.env);
const logger = createLogger({ level: config.LOG_LEVEL, format: 'json', role: 'runtime-worker' });
const broker = new Broker(config, logger);
const runtime = new ConsumerRuntime(
  {
    role: 'runtime-worker',
    // The classifier's queue, with a body of this test's own.
    stage: { ...toClassify, schema: bodySchema },
    concurrency: 1,
    prefetch: 1,
    handle: async (message, context) => {
      record({ event: 'started', n: message.n, attempt: context.attempt });
      if (message.hang && hangOnMarker) await new Promise(() => setInterval(() => undefined, 60_000));
      if (message.crash) process.exit(70);
      if (message.sleepMs) await new Promise((resolve) => setTimeout(resolve, message.sleepMs));
      record({ event: 'completed', n: message.n, attempt: context.attempt });
      return { status: 'done' };
    },
  },
  broker,
  logger,
  {
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseDelayMs: config.RETRY_BASE_DELAY_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    maxDeliveries: config.MAX_DELIVERIES,
  },
);

process.once('SIGTERM', () => {
  void (async () => {
    await runtime.stop();
    await broker.close();
    record({ event: 'stopped' });
    process.exit(0);
  })();
});

await broker.start();
runtime.start();
record({ event: 'ready' });
