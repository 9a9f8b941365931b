/**
 * The `api` role as a child process (`src/cli/index.ts worker --role=api`) on a test vhost, for what only
 * a process of its own shows: its memory (VmRSS / VmHWM from /proc) and what it prints at start.
 * Also a raw multipart upload over node:http that streams its files from a small buffer, so a
 * test can send hundreds of MiB without holding them, and hold an upload open half-sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { TestVhost } from './broker.js';
import { waitFor } from './broker.js';
import { PROJECT_ROOT } from './worker-process.js';

/** A running api process. */
export interface ApiProcess {
  child: ChildProcess;
  pid: number;
  /** `http://127.0.0.1:<port>` of its API. */
  url: string;
  /** Everything it wrote so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it is gone. */
  stop(): Promise<void>;
}

/** Starts the api role of `vhost` in a child process with `env` on top; resolves once it listens. */
export async function spawnApiProcess(vhost: TestVhost, env: Record<string, string>): Promise<ApiProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'worker', '--role=api'], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      AMQP_URL: vhost.config.AMQP_URL,
      RABBITMQ_MANAGEMENT_URL: vhost.config.RABBITMQ_MANAGEMENT_URL,
      DATA_DIR: vhost.dataDir,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      METRICS_PORT: '0',
      API_PORT: '0',
      API_HOST: '127.0.0.1',
      ...env,
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
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    // waitFor returns only a truthy value: the URL.
    const url = await waitFor<string | undefined>(
      () => {
        if (child.exitCode !== null) throw new Error(`the api process exited with ${child.exitCode}:\n${output}`);
        const line = output.split('\n').find((candidate) => candidate.includes('"operator API and dashboard listening"'));
        return line ? `http://127.0.0.1:${new URL((JSON.parse(line) as { url: string }).url).port}` : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the api process to listen' },
    );
    return { child, pid: child.pid!, url: url!, output: () => output, stop };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${output}`);
  }
}

/** A field of /proc/<pid>/status in bytes (VmRSS: resident now, VmHWM: the peak since the last reset). */
export function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Resets the process's peak resident size (VmHWM) to its current one (Linux: `5` to clear_refs). */
export function resetPeakMemory(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** A PDF-looking file of exactly `bytes` bytes: a PDF header, filler, and the end marker. */
export function pdfOfSize(bytes: number): { head: Buffer; fillerBytes: number; tail: Buffer } {
  const head = Buffer.from('%PDF-1.4\n% filler\n');
  const tail = Buffer.from('\n%%EOF\n');
  return { head, fillerBytes: bytes - head.byteLength - tail.byteLength, tail };
}

const BOUNDARY = 'ragmail-test-boundary-7f3a9c';
const FILLER = Buffer.alloc(1 << 20, 0x78);

/** One file of a raw upload: its name and size in bytes. */
export interface RawFile {
  name: string;
  bytes: number;
}

/** An upload in flight over node:http. */
export interface RawUpload {
  /** The answer: status, headers and the JSON body. */
  response: Promise<{ status: number; headers: IncomingMessage['headers']; body: Record<string, unknown> }>;
  /** Resolves once the whole body is sent: a server that stops reading after an early answer leaves it pending. */
  sent: Promise<void>;
  /** Sends the rest of a held upload. */
  finish(): void;
  /** Drops the connection mid-upload. */
  abort(): void;
}

function write(request: ClientRequest, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    request.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * POSTs `agent_email` and `files` to `<url>/api/documents`, streaming each file from a 1 MiB
 * buffer. With `hold`, it sends the first file's first 64 KiB and waits for `finish()`.
 */
export function rawUpload(url: string, token: string, agentEmail: string, files: RawFile[], options: { hold?: boolean } = {}): RawUpload {
  const request = httpRequest(`${url}/api/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
  });
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const response = new Promise<{ status: number; headers: IncomingMessage['headers']; body: Record<string, unknown> }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (answer) => {
      let text = '';
      answer.setEncoding('utf8');
      answer.on('data', (chunk: string) => {
        text += chunk;
      });
      answer.once('end', () => resolve({ status: answer.statusCode ?? 0, headers: answer.headers, body: JSON.parse(text || '{}') as Record<string, unknown> }));
      answer.once('error', reject);
    });
  });
  const send = async () => {
    await write(request, `--${BOUNDARY}\r\nContent-Disposition: form-data; name="agent_email"\r\n\r\n${agentEmail}\r\n`);
    for (const [index, file] of files.entries()) {
      const { head, fillerBytes, tail } = pdfOfSize(file.bytes);
      await write(request, `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: application/pdf\r\n\r\n`);
      await write(request, head);
      let left = fillerBytes;
      if (options.hold && index === 0) {
        await write(request, FILLER.subarray(0, 65_536));
        left -= 65_536;
        await released;
      }
      while (left > 0) {
        const size = Math.min(left, FILLER.byteLength);
        await write(request, FILLER.subarray(0, size));
        left -= size;
      }
      await write(request, tail);
      await write(request, '\r\n');
    }
    await write(request, `--${BOUNDARY}--\r\n`);
    await new Promise<void>((resolve) => request.end(() => resolve()));
  };
  const sent = send();
  // An aborted upload fails its sending; `sent` then stays pending, and the answer says what happened.
  sent.catch(() => undefined);
  return { response, sent, finish: release, abort: () => request.destroy() };
}
