/**
 * postal-mime off the main thread, with a time budget per email. postal-mime is linear but slow
 * per line (about 25 µs), so a 1.5 MB email of short lines takes longer than the broker's heartbeat
 * interval: on the main thread it would block heartbeats, `/healthz` and every other role of the
 * process. One long-lived worker thread parses one email at a time (callers queue); an email that
 * outlasts its budget gets the worker terminated (a fresh one takes the next email) and is refused.
 */
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Email as ParsedEmail } from 'postal-mime';
import { transientError } from '../../lib/errors.js';
import type { ParseReply, ParseRequest } from './mime-worker.js';

/** An email the parser refused: it would be refused on every read (too slow, malformed, crashed the parser). */
export class EmailParseRefusal extends Error {}

/** The worker module next to this one, with this module's extension (.ts under tsx, .js when built). */
const workerModule = new URL(`./mime-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);
/** Plain-JavaScript entry that loads `workerModule`, registering tsx first for a .ts module (see there). */
const workerEntry = new URL('./mime-worker-entry.mjs', import.meta.url);

/** How long a fresh worker may take to load (postal-mime, under tsx its compiler too) before parses fail as retryable. */
const WORKER_START_TIMEOUT_MS = 30_000;

interface ParseJob {
  request: ParseRequest;
  transfer: ArrayBuffer[];
  timeoutMs: number;
  resolve(parsed: ParsedEmail): void;
  reject(error: Error): void;
}

interface ParserThread {
  worker: Worker;
  ready: boolean;
  startTimer: NodeJS.Timeout;
}

const queue: ParseJob[] = [];
let thread: ParserThread | undefined;
let running: { job: ParseJob; timer: NodeJS.Timeout } | undefined;

/** The worker keeps the process alive only while it has work: an idle parser must not hold a CLI open. */
function syncKeepAlive(): void {
  if (!thread) return;
  if (running || queue.length > 0) thread.worker.ref();
  else thread.worker.unref();
}

/** Stops the current worker; the next parse starts a fresh one. */
function discardThread(): void {
  if (!thread) return;
  clearTimeout(thread.startTimer);
  void thread.worker.terminate();
  thread = undefined;
}

/** Ends the running parse, then starts the next one. */
function finishRunning(outcome: { parsed: ParsedEmail } | { error: Error }): void {
  if (!running) return;
  const { job, timer } = running;
  running = undefined;
  clearTimeout(timer);
  if ('parsed' in outcome) job.resolve(outcome.parsed);
  else job.reject(outcome.error);
  pump();
}

/** The worker failed: the running email is blamed for it; before any email ran, the waiting ones retry later. */
function onThreadFailure(failed: ParserThread, reason: string): void {
  if (failed !== thread) return;
  discardThread();
  if (running) {
    finishRunning({ error: new EmailParseRefusal(`the parser stopped while reading it: ${reason}`) });
    return;
  }
  for (const job of queue.splice(0)) {
    job.reject(transientError('email_parser_unavailable', `the email parser could not start: ${reason}`));
  }
}

function startThread(): ParserThread {
  const worker = new Worker(workerEntry, { workerData: { module: workerModule.href } });
  const started: ParserThread = {
    worker,
    ready: false,
    startTimer: setTimeout(() => onThreadFailure(started, `not ready after ${WORKER_START_TIMEOUT_MS} ms`), WORKER_START_TIMEOUT_MS),
  };
  started.startTimer.unref();
  worker.on('message', (reply: ParseReply) => {
    if (started !== thread) return;
    if (reply.type === 'ready') {
      started.ready = true;
      clearTimeout(started.startTimer);
      pump();
    } else if (reply.type === 'parsed') finishRunning({ parsed: reply.parsed });
    else finishRunning({ error: new EmailParseRefusal(reply.message) });
  });
  worker.on('error', (error) => onThreadFailure(started, error.message));
  worker.on('exit', (code) => onThreadFailure(started, `the worker exited with code ${code}`));
  return started;
}

/** Hands the next queued email to the worker once it is loaded and idle. */
function pump(): void {
  if (!running && queue.length > 0) {
    thread ??= startThread();
    if (thread.ready) {
      const job = queue.shift()!;
      // The budget starts when the worker gets the email: time spent waiting in the queue is not the email's.
      const timer = setTimeout(() => {
        discardThread();
        // The next email should not wait for a fresh worker to load: start it now, idle until needed.
        thread = startThread();
        finishRunning({ error: new EmailParseRefusal(`parsing took longer than ${job.timeoutMs} ms`) });
      }, job.timeoutMs);
      running = { job, timer };
      thread.worker.postMessage(job.request, job.transfer);
    }
  }
  syncKeepAlive();
}

/**
 * postal-mime's parse of `raw` (attachments left out), done in the parser's worker thread within
 * `timeoutMs`. The bytes are copied once and the copy is transferred, so `raw` stays usable.
 *
 * @throws EmailParseRefusal when postal-mime refuses the email, it takes longer than `timeoutMs`
 *   (the worker is then terminated) or it stops the worker: the same would happen on every read.
 * @throws RagmailError `email_parser_unavailable` (retryable) when the worker thread cannot start.
 */
export function parseMimeInWorker(raw: Buffer | string, timeoutMs: number): Promise<ParsedEmail> {
  let request: ParseRequest;
  let transfer: ArrayBuffer[] = [];
  if (typeof raw === 'string') {
    request = { raw };
  } else {
    const bytes = new Uint8Array(raw.byteLength);
    bytes.set(raw);
    request = { raw: bytes.buffer };
    transfer = [bytes.buffer];
  }
  return new Promise((resolve, reject) => {
    queue.push({ request, transfer, timeoutMs, resolve, reject });
    pump();
  });
}
