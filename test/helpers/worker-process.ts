/**
 * Worker child processes for the resilience tests: spawns `test/helpers/runtime-worker.ts` against
 * a test vhost, keeps its output for failure messages, and reads back what it recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/app/config.js';
import type { WorkerRecord } from './runtime-worker.js';

export type { WorkerRecord };

/** The project root, where `node --import tsx` resolves from. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER_SCRIPT = path.join(PROJECT_ROOT, 'test/helpers/runtime-worker.ts');

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited, with its exit code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote so far (stdout and stderr), for assertion messages. */
  output(): string;
}

export interface SpawnWorkerOptions {
  /** Where the worker appends its JSON-line records. */
  recordFile: string;
  /** Make `{ hang: true }` messages never complete, so the test can kill the worker mid-message. */
  hang?: boolean;
  /** More environment variables for the worker. */
  env?: Record<string, string>;
}

/** The environment that points a child worker at the same broker, vhost and timings as `config`. */
export function workerEnvironment(config: Config): Record<string, string> {
  const names = [
    'AMQP_URL',
    'RABBITMQ_MANAGEMENT_URL',
    'DATA_DIR',
    'LOG_LEVEL',
    'MAX_ATTEMPTS',
    'RETRY_BASE_DELAY_MS',
    'SHUTDOWN_GRACE_MS',
    'AMQP_RECONNECT_MIN_MS',
    'AMQP_RECONNECT_MAX_MS',
    'AMQP_CONNECT_TIMEOUT_MS',
    'MAX_DELIVERIES',
    'DEAD_LETTER_MAX_AGE',
  ] as const;
  return Object.fromEntries(names.map((name) => [name, String(config[name])]));
}

/** Spawns a runtime worker; the test must end it (signal or `stopWorker`) before it finishes. */
export function spawnRuntimeWorker(config: Config, options: SpawnWorkerOptions): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...workerEnvironment(config),
      LOG_FORMAT: 'json',
      RUNTIME_WORKER_RECORD_FILE: options.recordFile,
      RUNTIME_WORKER_HANG: options.hang ? '1' : '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${WORKER_SCRIPT}`);
  return { child, pid: child.pid, exited, output: () => output };
}

/** Kills a worker that is still running (test cleanup) and waits until it is gone. */
export async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await worker.exited;
}

/** The records written so far (none when the file does not exist yet). */
export function readRecords(recordFile: string): WorkerRecord[] {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as WorkerRecord);
}
