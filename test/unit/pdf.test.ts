import { test } from 'node:test';
import assert from 'node:assert/strict';
import PDFDocument from 'pdfkit';
import { extractPages, extractText } from '../../src/rag/pdf.js';
import { RagmailError } from '../../src/lib/errors.js';
import { makeCorruptPdf, makeEncryptedPdf, makeManualPdf, makePdf, makePdfClaimingPages } from '../helpers/pdf-fixtures.js';
import { pageText, type PdfPage } from '../../src/rag/pdf-page-text.js';

async function assertPermanentError(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RagmailError, `expected a RagmailError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.retryable, false);
    assert.ok(error.message.length > 10, 'the message explains the problem');
    return true;
  });
}

test('extractPages returns the text of each page of a 3-page PDF in page order', async () => {
  const pdf = await makePdf(['Chapter one talks about routers.', 'Chapter two explains the reset button.', 'Chapter three covers the warranty.']);
  const pages = await extractPages(pdf, { maxPages: 10 });
  assert.equal(pages.length, 3);
  assert.match(pages[0], /Chapter one talks about routers\./);
  assert.match(pages[1], /Chapter two explains the reset button\./);
  assert.match(pages[2], /Chapter three covers the warranty\./);
  assert.doesNotMatch(pages[0], /reset button/);
});

test('a document long enough to be opened again midway (every 500 pages) still reads each page once, in order', { timeout: 120_000 }, async () => {
  const texts = Array.from({ length: 1_001 }, (_unused, index) => `Page number ${index + 1} of the long manual.`);
  assert.deepEqual(await extractPages(await makePdf(texts), { maxPages: 2_000 }), texts);
});

test('extractPages gives an empty string for a page without text', async () => {
  const pages = await extractPages(await makePdf(['First page.', '', 'Third page.']), { maxPages: 10 });
  assert.deepEqual(
    pages.map((page) => page.length > 0),
    [true, false, true],
  );
});

test('extractPages reports progress once per page, ending at the total', async () => {
  const calls: Array<[number, number]> = [];
  await extractPages(await makePdf(['one', 'two', 'three', 'four']), {
    maxPages: 10,
    onProgress: (done, total) => calls.push([done, total]),
  });
  assert.deepEqual(calls, [
    [1, 4],
    [2, 4],
    [3, 4],
    [4, 4],
  ]);
});

test('extractPages leaves the caller buffer usable', async () => {
  const pdf = await makePdf(['Reusable buffer.']);
  const first = await extractPages(pdf, { maxPages: 1 });
  const second = await extractPages(pdf, { maxPages: 1 });
  assert.deepEqual(first, second);
});

test('an empty file is refused with pdf_empty', async () => {
  await assertPermanentError(extractPages(new Uint8Array(0), { maxPages: 10 }), 'pdf_empty');
});

test('a file without the PDF signature is refused with not_a_pdf', async () => {
  const text = new TextEncoder().encode('Hello, this is a plain text file, not a PDF.');
  await assertPermanentError(extractPages(text, { maxPages: 10 }), 'not_a_pdf');
});

test('a password-protected PDF is refused with pdf_encrypted', async () => {
  await assertPermanentError(extractPages(await makeEncryptedPdf(), { maxPages: 10 }), 'pdf_encrypted');
});

test('a PDF header followed by garbage is refused with pdf_corrupt', async () => {
  await assertPermanentError(extractPages(makeCorruptPdf(), { maxPages: 10 }), 'pdf_corrupt');
});

test('a PDF longer than maxPages is refused with pdf_too_many_pages', async () => {
  const pdf = await makePdf(['one', 'two', 'three']);
  await assertPermanentError(extractPages(pdf, { maxPages: 2 }), 'pdf_too_many_pages');
  assert.equal((await extractPages(pdf, { maxPages: 3 })).length, 3);
});

test('a PDF of 100,000 pages is refused from its page count, without reading its pages', async () => {
  const pdf = makePdfClaimingPages(100_000);
  const progress: number[] = [];
  const started = Date.now();
  await assertPermanentError(extractPages(pdf, { maxPages: 500, onProgress: (done) => progress.push(done) }), 'pdf_too_many_pages');
  assert.deepEqual(progress, [], 'no page was extracted before the refusal');
  assert.ok(Date.now() - started < 10_000, 'the refusal is quick');
});

test('a page over maxPageChars or a document over maxDocumentChars is refused with pdf_too_large, at the page that crosses it', async () => {
  const page = 'Routers reset with the button on the back. '.repeat(30);
  const pdf = await makePdf([page, page, page]);
  const lengths = (await extractPages(pdf, { maxPages: 10 })).map((text) => text.length);
  await assertPermanentError(extractPages(pdf, { maxPages: 10, maxPageChars: lengths[0] - 1 }), 'pdf_too_large');
  const progress: number[] = [];
  await assertPermanentError(
    extractPages(pdf, { maxPages: 10, maxDocumentChars: lengths[0] + lengths[1] + 1, onProgress: (done) => progress.push(done) }),
    'pdf_too_large',
  );
  assert.deepEqual(progress, [1, 2], 'stopped at page 3, the one over the limit');
  assert.equal((await extractPages(pdf, { maxPages: 10, maxPageChars: lengths[0], maxDocumentChars: lengths[0] * 3 })).length, 3);
});

/** A two-page manual with a metadata title and a nested outline: Setup, and Reset under it. */
function makeManualWithOutline(title: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const document = new PDFDocument({ autoFirstPage: false, info: { Title: title } });
    const parts: Buffer[] = [];
    document.on('data', (part: Buffer) => parts.push(part));
    document.on('end', () => resolve(Buffer.concat(parts)));
    document.on('error', reject);
    document.addPage({ size: 'A4', margin: 50 }).text('Setup\nPlug the router in.');
    const setup = document.outline.addItem('Setup');
    document.addPage({ size: 'A4', margin: 50 }).text('Reset\nHold the button for 10 seconds.');
    setup.addItem('Reset');
    document.end();
  });
}

test("extractText gives the metadata title and the outline in document order with each entry's path", async () => {
  const text = await extractText(await makeManualWithOutline('Router handbook'), { maxPages: 10 });
  assert.equal(text.title, 'Router handbook');
  assert.deepEqual(text.outline, [
    { title: 'Setup', path: ['Setup'] },
    { title: 'Reset', path: ['Setup', 'Reset'] },
  ]);
  assert.equal(text.pages.length, 2);
});

test('extractText ignores a placeholder title and a document without an outline gives none', async () => {
  const text = await extractText(await makeManualWithOutline('Microsoft Word - draft3.docx'), { maxPages: 10 });
  assert.equal(text.title, undefined);
  assert.deepEqual((await extractText(await makePdf(['plain']), { maxPages: 10 })).outline, []);
});

test('a line set wholly in a fixed-pitch font is a code line, indented by four spaces; prose lines, a code word in a sentence included, start at their first word', async () => {
  const pdf = await makeManualPdf([
    [
      {
        prose:
          'The fit command fits a user-defined function to a set of data points, using the nonlinear least-squares Marquardt-Levenberg algorithm. The basic use of `fit` is best explained by a simple example:',
      },
      { code: ['f(x) = a + b*x + c*x**2', "fit f(x) 'measured.dat' using 1:2 via a,b,c", "plot 'measured.dat' u 1:2, f(x)"] },
      { prose: 'After the fit, the parameters hold the fitted values.' },
    ],
  ]);
  const [page] = await extractPages(pdf, { maxPages: 5 });
  const lines = page.split('\n');
  assert.deepEqual(
    lines.filter((line) => line.startsWith(' ')),
    ['    f(x) = a + b*x + c*x**2', "    fit f(x) 'measured.dat' using 1:2 via a,b,c", "    plot 'measured.dat' u 1:2, f(x)"],
    page,
  );
  assert.ok(lines.length > 5, 'the prose paragraph wraps over several lines');
  assert.ok(
    lines.some((line) => line.includes('use of fit is best explained')),
    'the line with the code word "fit" is prose',
  );
});

test('a line of Chinese, Japanese or Korean is never code, though its font is fixed-pitch, nor is Latin text in such a font', async () => {
  // pdf.js calls every fixed-pitch font "monospace", and CJK fonts are fixed-pitch; the page as pdf.js reads it.
  const item = (str: string, fontName: string, y: number, x = 72, hasEOL = true) => ({
    str,
    fontName,
    transform: [1, 0, 0, 1, x, y],
    width: str.length * 6,
    height: 10,
    hasEOL,
  });
  const page: PdfPage = {
    getViewport: () => ({ convertToViewportPoint: (x: number, y: number) => [x, 800 - y] }),
    getTextContent: async () => ({
      styles: { cjk: { fontFamily: 'monospace' }, code: { fontFamily: 'monospace' } },
      items: [
        item('インストールが完了したら、GUI を起動します。', 'cjk', 700),
        item('ANSIA, ANSIB', 'cjk', 680),
        item('Lang: JA', 'code', 660),
        item('Title: ', 'code', 640, 72, false),
        item('はじめての試験問題', 'cjk', 640, 114),
      ],
    }),
  };
  assert.deepEqual((await pageText(page)).split('\n'), [
    'インストールが完了したら、GUI を起動します。',
    'ANSIA, ANSIB',
    '    Lang: JA',
    'Title: はじめての試験問題',
  ]);
});
