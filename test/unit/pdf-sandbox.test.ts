/**
 * The PDF sandbox: text read in a child process, hostile PDFs stopped by the child's memory and
 * time budgets or the text limits, while this (the parent) process keeps its memory and its event
 * loop keeps turning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RagmailError } from '../../src/lib/errors.js';
import { extractText, type PdfText } from '../../src/rag/pdf.js';
import { extractTextInChild, readPdfInChild, type PdfLimits } from '../../src/rag/pdf-sandbox.js';
import { makeCompressedStreamBomb, makeNestedFormBomb, makePdf } from '../helpers/pdf-fixtures.js';
import { startProcessProbe } from '../helpers/process-probe.js';

// 256 MB, not less: under tsx the child's resident size can still grow by over 128 MB after it says
// it is loaded (its loader thread), so a three-page PDF was refused about one run in eight (also
// before this budget was set). The bombs below grow by gigabytes and are caught either way.
const limits: PdfLimits = { maxPages: 100, maxPageChars: 100_000, maxDocumentChars: 5_000_000, timeoutMs: 60_000, maxMemoryMb: 256 };

/** Reads `data` through the sandbox, watching this process's resident size and event-loop gaps. */
async function readInChild(data: Buffer, overrides: Partial<PdfLimits> = {}, signal?: AbortSignal) {
  const folder = await mkdtemp(path.join(tmpdir(), 'pdf-sandbox-'));
  const file = path.join(folder, 'document.pdf');
  await writeFile(file, data);
  const handle = await open(file);
  const probe = startProcessProbe();
  const started = Date.now();
  const progress: Array<[number, number]> = [];
  try {
    const result: { text?: PdfText; error?: unknown } = await extractTextInChild(handle, {
      limits: { ...limits, ...overrides },
      signal,
      onProgress: (done, total) => progress.push([done, total]),
    }).then(
      (text) => ({ text }),
      (error: unknown) => ({ error }),
    );
    return { ...result, progress, elapsedMs: Date.now() - started, ...probe.stop() };
  } finally {
    probe.stop();
    await handle.close();
    await rm(folder, { recursive: true, force: true });
  }
}

function assertCode(error: unknown, code: string | readonly string[]): void {
  assert.ok(error instanceof RagmailError, `expected a RagmailError, got ${String(error)}`);
  assert.ok((typeof code === 'string' ? [code] : code).includes(error.code), `${error.code}: ${error.message}`);
  assert.equal(error.retryable, false);
}

test('a normal PDF reads the same in the child as in process, with progress per page', { timeout: 120_000 }, async () => {
  const pdf = await makePdf(['Chapter one: routers.', 'Chapter two: the reset button.', 'Chapter three: warranty.']);
  const run = await readInChild(pdf);
  assert.deepEqual(run.text, await extractText(pdf, { maxPages: 100 }));
  assert.deepEqual(run.progress, [
    [1, 3],
    [2, 3],
    [3, 3],
  ]);
});

test(
  "each page's text reaches this process as the child reads it: pages before one over the limit arrive, then the refusal",
  { timeout: 120_000 },
  async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'pdf-sandbox-'));
    const file = path.join(folder, 'document.pdf');
    await writeFile(file, await makePdf(['Chapter one: routers.', 'Chapter two: the reset button.', `Chapter three: ${'a long warranty. '.repeat(100)}`]));
    const handle = await open(file);
    const received: Array<[number, number, string]> = [];
    try {
      const outcome = await readPdfInChild(handle, {
        limits: { ...limits, maxPageChars: 1_000 },
        onPage: (text, pageNumber, total) => received.push([pageNumber, total, text]),
      }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assertCode(outcome, 'pdf_too_large');
      assert.deepEqual(received, [
        [1, 3, 'Chapter one: routers.'],
        [2, 3, 'Chapter two: the reset button.'],
      ]);
    } finally {
      await handle.close();
      await rm(folder, { recursive: true, force: true });
    }
  },
);

test('errors of the PDF come back from the child with their code', { timeout: 120_000 }, async () => {
  assertCode((await readInChild(Buffer.from('plain text, not a PDF'))).error, 'not_a_pdf');
  assertCode((await readInChild(await makePdf(['a', 'b', 'c']), { maxPages: 2 })).error, 'pdf_too_many_pages');
});

test(
  'a 100 KB compressed-stream bomb: the child is stopped by its memory budget or the per-page limit, this process stays small and responsive',
  { timeout: 180_000 },
  async () => {
    const bomb = await makeCompressedStreamBomb();
    assert.ok(bomb.length < 150_000, `the bomb is small: ${bomb.length} bytes`);
    const run = await readInChild(bomb);
    // Node 20 runs out of the child's memory budget first; Node 22 inflates the stream lazily enough
    // that the page's text reaches the per-page limit first. Either refuses the PDF for good.
    assertCode(run.error, ['pdf_parse_memory', 'pdf_too_large']);
    assert.ok(run.elapsedMs < 90_000, `stopped in ${run.elapsedMs} ms`);
    assert.ok(run.rssGrowthMb < 100, `this process grew by ${run.rssGrowthMb.toFixed(0)} MB`);
    assert.ok(run.maxGapMs < 1_000, `event loop blocked for ${run.maxGapMs} ms`);
  },
);

test('a 2 KB PDF of nested forms drawing text a million times: stopped by the time budget when memory allows it', { timeout: 180_000 }, async () => {
  const bomb = makeNestedFormBomb();
  assert.ok(bomb.length < 4_000, `the bomb is small: ${bomb.length} bytes`);
  const run = await readInChild(bomb, { timeoutMs: 15_000, maxMemoryMb: 4_096 });
  assertCode(run.error, 'pdf_parse_timeout');
  assert.ok(run.elapsedMs < 45_000, `stopped in ${run.elapsedMs} ms`);
  assert.ok(run.rssGrowthMb < 100, `this process grew by ${run.rssGrowthMb.toFixed(0)} MB`);
  assert.ok(run.maxGapMs < 1_000, `event loop blocked for ${run.maxGapMs} ms`);
});

test('nested forms that multiply one line to 200,000 characters on a page: refused by the per-page limit', { timeout: 120_000 }, async () => {
  const bomb = makeNestedFormBomb({ depth: 3, text: 'Nested text line. '.repeat(11) });
  const run = await readInChild(bomb, { maxMemoryMb: 1_024 });
  assertCode(run.error, 'pdf_too_large');
  assert.match((run.error as Error).message, /Page 1 .* at most 100000 per page/);
});

test('aborting (shutdown) kills the child and rejects with the reason', { timeout: 120_000 }, async () => {
  const abort = new AbortController();
  setTimeout(() => abort.abort(new Error('shutdown')), 500);
  const run = await readInChild(makeNestedFormBomb(), { maxMemoryMb: 4_096 }, abort.signal);
  assert.equal((run.error as Error).message, 'shutdown');
  assert.ok(run.elapsedMs < 10_000, `stopped in ${run.elapsedMs} ms`);
});
