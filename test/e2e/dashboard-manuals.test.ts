/**
 * The Manuals section in a real browser against a real pipeline (ingester + recorder + api on a
 * test vhost): upload a PDF, watch it become ingested, refuse a non-PDF, re-ingest, delete;
 * a file over the size limit is refused with a message while the browser is still sending it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { waitFor } from '../helpers/broker.js';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { makePdf } from '../helpers/pdf-fixtures.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';

const MAILBOX = 'manuals@initech.example';
/** API_MAX_UPLOAD_BYTES of this pipeline: small, so a file over it is quick to make. */
const MAX_UPLOAD_BYTES = 2_000_000;
let browser: Browser;
let pipeline: Pipeline;
let folder: string;

before(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'ragmail-e2e-'));
  pipeline = await startPipeline(['ingester', 'recorder', 'api'], { API_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
  await rm(folder, { recursive: true, force: true });
});

test('a PDF uploaded through the page becomes ingested, can be re-ingested and deleted; a non-PDF is refused', async () => {
  const pdf = path.join(folder, 'initech-printer-manual.pdf');
  await writeFile(
    pdf,
    await makePdf([
      'Initech P100 printer. To clear a paper jam, open the rear door and pull the sheet gently.',
      'Toner: replace the cartridge when the orange light blinks twice.',
      'Warranty: two years from the date of purchase.',
    ]),
  );
  const fake = path.join(folder, 'not-really.pdf');
  // A PNG signature: the name says PDF, the bytes do not.
  await writeFile(fake, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));

  const api = apiOf(pipeline);
  const session = await openDashboard(browser, api.url, { token: api.token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Manuals', 'manuals');
    // A mailbox the page does not know yet: the select offers another address.
    await section.getByLabel('Mailbox', { exact: true }).selectOption({ label: 'Another address…' });
    await section.getByLabel('New mailbox address').fill(MAILBOX);
    await section.getByLabel('PDF manuals').setInputFiles(fake);
    await section.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#status.error').filter({ hasText: /pdf/i }).waitFor();
    assert.deepEqual(await pipeline.documents.list(MAILBOX), []);

    await section.getByLabel('PDF manuals').setInputFiles(pdf);
    await section.getByRole('button', { name: 'Upload' }).click();
    const row = section.locator('tr', { hasText: 'initech-printer-manual.pdf' });
    await row.locator('.document-status', { hasText: 'ingested' }).waitFor({ timeout: 60_000 });

    const documentId = await row.getAttribute('data-document-id');
    assert.ok(documentId);
    const record = await pipeline.documents.get(documentId);
    assert.equal(record?.status, 'ingested');
    assert.equal(record?.agent_email, MAILBOX);
    assert.equal(record?.pages_total, 3);
    assert.ok((record?.chunks ?? 0) > 0);
    assert.equal((await row.locator('td.number').textContent())?.trim(), String(record?.chunks));
    // The new mailbox joined the selector and is now the upload's choice.
    assert.ok((await page.locator('#mailbox option').allTextContents()).includes(MAILBOX));
    assert.equal(await section.getByLabel('Mailbox', { exact: true }).inputValue(), MAILBOX);
    assert.ok(await section.getByLabel('New mailbox address').isHidden());
    await saveScreenshot(page, 'manuals');
    await checkPhoneLayout(page, 'manuals');

    const before = record!.updated_at;
    await row.getByRole('button', { name: /Re-ingest/ }).click();
    await waitFor(
      async () => {
        const now = await pipeline.documents.get(documentId);
        return now?.status === 'ingested' && now.updated_at > before;
      },
      { timeoutMs: 60_000, what: 're-ingestion' },
    );
    await row.locator('.document-status', { hasText: 'ingested' }).waitFor();

    await row.getByRole('button', { name: /Delete/ }).click();
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await pipeline.documents.get(documentId), undefined);
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});

test('a PDF over API_MAX_UPLOAD_BYTES is refused with a message the page shows, though the browser was still sending it; nothing is stored', async () => {
  const huge = path.join(folder, 'huge-manual.pdf');
  // Five times the limit: the answer comes after the first 2 MB, and the page must still get it.
  await writeFile(huge, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(5 * MAX_UPLOAD_BYTES, 0x20), Buffer.from('\n%%EOF\n')]));
  const api = apiOf(pipeline);
  const session = await openDashboard(browser, api.url, { token: api.token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Manuals', 'manuals');
    await section.getByLabel('Mailbox', { exact: true }).selectOption({ label: 'Another address…' });
    await section.getByLabel('New mailbox address').fill('oversize@initech.example');
    await section.getByLabel('PDF manuals').setInputFiles(huge);
    await section.getByRole('button', { name: 'Upload' }).click();
    await page
      .locator('#status.error')
      .filter({ hasText: /larger than 2000000 bytes/ })
      .waitFor({ timeout: 20_000 });
    assert.deepEqual(await pipeline.documents.list('oversize@initech.example'), []);
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
