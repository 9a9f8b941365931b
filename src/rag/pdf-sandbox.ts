/**
 * Reading a PDF in a child process with a time and a memory budget. A hostile PDF (a compressed
 * stream that inflates to gigabytes, forms nested to draw their text millions of times) can make
 * the PDF engine take gigabytes and minutes; in a child process that memory can be measured and
 * the process killed, and the parent's event loop stays free for broker heartbeats. A worker
 * thread would not do: its ArrayBuffers are not bounded by `resourceLimits`.
 */
import { fork } from 'node:child_process';
import { readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { permanentError, RagmailError, transientError } from '../lib/errors.js';
import type { PdfInfo, PdfText } from './pdf.js';
import type { ChildReply, ExtractRequest } from './pdf-sandbox-protocol.js';

/** Limits on reading one PDF. */
export interface PdfLimits {
  /** Largest page count accepted (`pdf_too_many_pages`). */
  maxPages: number;
  /** Most characters on one page (`pdf_too_large`). */
  maxPageChars: number;
  /** Most characters in the whole document (`pdf_too_large`). */
  maxDocumentChars: number;
  /** Wall-clock budget for the whole document, the child's start included; past it the child is killed (`pdf_parse_timeout`). */
  timeoutMs: number;
  /**
   * Memory budget for one PDF: the child's heap limit, and the most its resident size may grow
   * over what it holds once started (its code: ~100 MB under node, ~350 MB under tsx, whose
   * loader thread keeps the PDF engine's source); past it the child is killed (`pdf_parse_memory`).
   */
  maxMemoryMb: number;
}

/** Options of {@link readPdfInChild}. */
export interface SandboxedReadOptions {
  limits: PdfLimits;
  /** Called with each page's text as the child reads it, in page order (see `readPdf` in pdf.ts). */
  onPage: (text: string, pageNumber: number, total: number) => void;
  /** Aborting kills the child and rejects with the signal's reason (shutdown). */
  signal?: AbortSignal;
}

/** Options of {@link extractTextInChild}. */
export interface SandboxedExtractOptions {
  limits: PdfLimits;
  /** Called after each page with the pages done so far and the page count. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting kills the child and rejects with the signal's reason (shutdown). */
  signal?: AbortSignal;
}

/** What {@link readPdfInChild} returns once every page has been handed to `onPage`. */
export interface SandboxedPdfInfo extends PdfInfo {
  /** The child's peak resident size (VmHWM), in bytes: the document's cost, on top of this process's. */
  readerPeakBytes: number;
}

/**
 * The child's young generation: V8's default (16 MB semi-spaces) let a 300-page manual's reading
 * peak at 164 MiB, 4 MB at 145 MiB, for the same CPU (measured, see BENCHMARKS.md section 9).
 */
const SEMI_SPACE_MB = 4;

/** How often the child's resident memory is read: a bomb grows by a few hundred MB a second. */
const MEMORY_POLL_MS = 50;

/** The child entry next to this module, with this module's extension (.ts under tsx, .js when built). */
const childModule = fileURLToPath(new URL(`./pdf-child${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * The parent's node flags minus those that must not apply twice or that the child sets itself:
 * the loader flags (`--import tsx`, or what the tsx CLI adds) stay, so the .ts child loads.
 */
function childExecArgv(maxMemoryMb: number): string[] {
  const inherited = process.execArgv.filter((flag) => !/^--(test|inspect|watch|max-old-space-size|max-semi-space-size)/.test(flag));
  return [...inherited, `--max-old-space-size=${maxMemoryMb}`, `--max-semi-space-size=${SEMI_SPACE_MB}`];
}

/** Resident memory of a process in bytes, from /proc (Linux); undefined where that cannot be read. */
async function residentBytes(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'latin1').catch(() => undefined);
  const match = status && /^VmRSS:\s*(\d+)\s*kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Why a child that never answered ended: a V8 heap-limit abort is the memory budget at work. */
function exitError(code: number | null, signal: NodeJS.Signals | null, stderrTail: string, maxMemoryMb: number): RagmailError {
  const cause = new Error(stderrTail.trim() || `exit code ${code}, signal ${signal}`);
  if (signal === 'SIGABRT' || code === 134 || /heap out of memory/i.test(stderrTail)) {
    return permanentError('pdf_parse_memory', `Reading the PDF needed more than ${maxMemoryMb} MB of memory; it was stopped.`, cause);
  }
  return transientError('pdf_parse_crashed', `The PDF reader stopped unexpectedly (exit code ${code}, signal ${signal}).`, cause);
}

/**
 * Reads the PDF open in `file` in a child process, which sends each page's text as it reads it
 * (see pdf.ts, `readPdf`, for the pages, the result and the errors). The file is handed over as a
 * descriptor, so the child reads exactly the file the caller checked and opened.
 *
 * @throws RagmailError: everything `readPdf` throws, `pdf_parse_timeout` and
 * `pdf_parse_memory` (not retryable), `pdf_parse_crashed` (retryable).
 */
export function readPdfInChild(file: FileHandle, options: SandboxedReadOptions): Promise<SandboxedPdfInfo> {
  const { limits, signal } = options;
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const child = fork(childModule, [], {
      execArgv: childExecArgv(limits.maxMemoryMb),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', file.fd],
      serialization: 'advanced',
    });
    let stderrTail = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-2_000);
    });
    let settled = false;
    let memoryWatch: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      settle(permanentError('pdf_parse_timeout', `Reading the PDF took longer than ${limits.timeoutMs} ms; it was stopped.`));
    }, limits.timeoutMs);
    const onAbort = () => settle(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    function settle(error: unknown, info?: SandboxedPdfInfo): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(memoryWatch);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (info) resolve(info);
      else reject(error);
    }
    /** Once the child is loaded: its size now is its own, the PDF may add `maxMemoryMb` to it. */
    async function startReading(pid: number): Promise<void> {
      const budgetBytes = ((await residentBytes(pid)) ?? 0) + limits.maxMemoryMb * 1024 * 1024;
      if (settled) return;
      memoryWatch = setInterval(() => {
        void residentBytes(pid).then((bytes) => {
          if (bytes !== undefined && bytes > budgetBytes) {
            settle(permanentError('pdf_parse_memory', `Reading the PDF needed more than ${limits.maxMemoryMb} MB of memory; it was stopped.`));
          }
        });
      }, MEMORY_POLL_MS);
      const request: ExtractRequest = { maxPages: limits.maxPages, maxPageChars: limits.maxPageChars, maxDocumentChars: limits.maxDocumentChars };
      child.send(request);
    }
    /** A page for the caller, unless the reading has ended; a caller that throws ends it. */
    function deliverPage(text: string, pageNumber: number, total: number): void {
      if (settled) return;
      try {
        options.onPage(text, pageNumber, total);
      } catch (error) {
        settle(error);
      }
    }
    child.on('message', (reply: ChildReply) => {
      if (reply.type === 'ready') void startReading(child.pid ?? 0);
      else if (reply.type === 'page') deliverPage(reply.text, reply.pageNumber, reply.total);
      else if (reply.type === 'done') settle(undefined, { ...reply.info, readerPeakBytes: reply.peakResidentBytes });
      else settle(new RagmailError(reply.message, { code: reply.code, retryable: reply.retryable }));
    });
    child.on('error', (error) => settle(transientError('pdf_parse_crashed', `The PDF reader could not run: ${error.message}`, error)));
    // 'close' comes after the IPC channel and stderr are drained, so a last reply is never lost.
    child.on('close', (code, exitSignal) => settle(exitError(code, exitSignal, stderrTail, limits.maxMemoryMb)));
  });
}

/** The text, title and outline of the PDF open in `file`, read in a child process (see {@link readPdfInChild}). */
export async function extractTextInChild(file: FileHandle, options: SandboxedExtractOptions): Promise<PdfText> {
  const pages: string[] = [];
  const { title, outline } = await readPdfInChild(file, {
    limits: options.limits,
    signal: options.signal,
    onPage: (text, pageNumber, total) => {
      pages.push(text);
      options.onProgress?.(pageNumber, total);
    },
  });
  return { pages, title, outline };
}
