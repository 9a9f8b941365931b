/**
 * Worker processes: the real CLI (`node --import tsx src/cli/index.ts worker --role=...`, or
 * compiled, `node dist/cli/index.js worker --role=...`, as deployed), one process per role or one for all, each serving /readyz on a port chosen here. Their output
 * goes to a log file in the benchmark's data folder; their peak memory and CPU time are read from
 * /proc while they run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processCpuSeconds } from './machine-cpu.js';

/** The project root: the CLI and tsx resolve from here. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A running worker process. */
export interface WorkerProcess {
  /** `classifier`, `all`, ... */
  role: string;
  pid: number;
  logFile: string;
  /** Resolves when /readyz answers 200; rejects when the process exits first or `timeoutMs` passes. */
  ready(timeoutMs?: number): Promise<void>;
  /** Peak and current resident memory in MiB (VmHWM, VmRSS), read from /proc while it runs. */
  memory(): { peakMiB: number; currentMiB: number };
  /** User + system CPU seconds used so far. */
  cpuSeconds(): number;
  /** SIGTERM (graceful shutdown), SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (closed again at once; the worker binds it a moment later). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function procStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Options of {@link spawnWorker}. */
export interface SpawnWorkerOptions {
  /** Run the compiled CLI (dist/, built by `node scripts/build.mjs`) instead of the sources through tsx. Default false. */
  compiled?: boolean;
}

/** Starts `worker --role=<role>` with `env` on top of this process's environment. */
export async function spawnWorker(role: string, env: Record<string, string>, logDir: string, options: SpawnWorkerOptions = {}): Promise<WorkerProcess> {
  const port = await freePort();
  const logFile = path.join(logDir, `${role}-${Date.now()}.log`);
  const output = openSync(logFile, 'a');
  const entry = options.compiled ? [path.join(PROJECT_ROOT, 'dist/cli/index.js')] : ['--import', 'tsx', path.join(PROJECT_ROOT, 'src/cli/index.ts')];
  const child: ChildProcess = spawn(process.execPath, [...entry, 'worker', `--role=${role}`], {
    cwd: PROJECT_ROOT,
    // The operator API (part of `--role=all`) gets a free port too, so runs never collide on 8080.
    env: { ...process.env, LOG_FORMAT: 'json', ...env, METRICS_HOST: '127.0.0.1', METRICS_PORT: String(port), API_HOST: '127.0.0.1', API_PORT: '0' },
    stdio: ['ignore', output, output],
  });
  closeSync(output);
  if (child.pid === undefined) throw new Error(`could not start the ${role} worker`);
  const pid = child.pid;
  let exitedWith: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitedWith = signal ?? String(code);
      resolve();
    }),
  );
  const tail = () => readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');

  return {
    role,
    pid,
    logFile,
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (exitedWith !== undefined) throw new Error(`the ${role} worker exited (${exitedWith}) before it was ready:\n${tail()}`);
        const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
          (response) => response.status,
          () => 0,
        );
        if (status === 200) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`the ${role} worker was not ready within ${timeoutMs} ms:\n${tail()}`);
    },
    memory() {
      return { peakMiB: procStatus(pid, 'VmHWM'), currentMiB: procStatus(pid, 'VmRSS') };
    },
    cpuSeconds: () => processCpuSeconds(pid),
    async stop(graceMs = 20_000) {
      if (exitedWith !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
