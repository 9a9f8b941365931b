/**
 * Test questions in a real browser against a real pipeline (ingester + recorder + api on a test
 * vhost, the sample router manual uploaded and ingested): a bad file is refused with its line named,
 * a good one runs `npm run eval` in the api's child process and ends in the figures and a row per
 * question; a long run shows its progress and refuses a second start; text from the file stays text.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { ingestSampleManual, jsonl, MANUAL, QUESTIONS } from '../helpers/evaluations.js';
import { ACME, startPipeline, type Pipeline } from '../helpers/pipeline.js';

let browser: Browser;
let pipeline: Pipeline;
let folder: string;

/** Markup in a question's id: the page must show it as text, never build an element from it. */
const MARKUP_ID = '<img src=x id=injected>';

before(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'ragmail-e2e-'));
  pipeline = await startPipeline(['ingester', 'recorder', 'api']);
  await ingestSampleManual(pipeline);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
  await rm(folder, { recursive: true, force: true });
});

test('a questions file run from the page ends in the figures and a row per question (expected, retrieved, decision, correct); a bad file is refused naming its line', async () => {
  const bad = path.join(folder, 'bad.jsonl');
  await writeFile(bad, jsonl([QUESTIONS[0], { ...QUESTIONS[1], answer_pages: [] }]));
  const good = path.join(folder, 'router-questions.jsonl');
  await writeFile(good, jsonl([...QUESTIONS, { ...QUESTIONS[2], id: MARKUP_ID }]));

  const api = apiOf(pipeline);
  const session = await openDashboard(browser, api.url, { token: api.token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Test questions', 'evaluations');
    await section.locator('.empty', { hasText: 'No evaluation yet.' }).waitFor();
    // The known mailboxes, as the upload offers them: ACME has its manual.
    const mailbox = section.getByLabel('Mailbox', { exact: true });
    assert.ok((await mailbox.locator('option').allTextContents()).includes(ACME));

    // By keyboard: the mailbox, the file and Start follow each other.
    await mailbox.focus();
    await mailbox.selectOption(ACME);
    await section.getByLabel('Questions (.jsonl)').setInputFiles(bad);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'evaluation-file');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Start');
    await page.keyboard.press('Enter');
    await section
      .getByRole('alert')
      .filter({ hasText: /^bad\.jsonl:2: .*answer_pages/ })
      .waitFor();

    await section.getByLabel('Questions (.jsonl)').setInputFiles(good);
    await section.getByRole('button', { name: 'Start' }).click();
    // The run has its own address, and its results replace its progress when it ends.
    await page.waitForURL(/#\/evaluations\/[0-9a-z-]+$/);
    // The refusal is gone once a run started.
    assert.equal(await section.locator('form + [role=alert]').textContent(), '');
    const results = section.getByRole('region', { name: 'What each question became' });
    await results.waitFor({ timeout: 120_000 });

    const detail = section.locator('.evaluation-detail');
    assert.match((await detail.locator('h3').textContent()) ?? '', /router-questions\.jsonl · support@acme\.example/);
    const figure = async (term: string) =>
      (
        await detail
          .locator('.facts div', { has: page.locator('dt', { hasText: new RegExp(`^${term}$`) }) })
          .locator('dd')
          .textContent()
      )?.trim();
    assert.equal(await figure('Status'), 'done');
    assert.equal(await figure('Recall@5'), '1/2 (50%)');
    assert.equal(await figure('Unanswerable auto-sent \\(should be 0\\)'), '0/2 (0%)');
    assert.match((await figure('Questions')) ?? '', /^4 \(2 answerable, 2 not\)$/);

    const rows = results.locator('tbody tr');
    assert.equal(await rows.count(), 4);
    const reset = results.locator('tr[data-question-id="reset"]');
    assert.equal(await reset.locator('td[data-label="Expected pages"]').textContent(), `3 (${MANUAL})`);
    assert.match((await reset.locator('td[data-label="Retrieved (best first)"]').textContent()) ?? '', /^3,.*answer page at rank 1$/);
    assert.match((await reset.locator('td[data-label="Decision"] .badge').textContent()) ?? '', /^(sent|drafted|handed off)$/);
    const impossible = results.locator('tr[data-question-id="impossible"]');
    assert.match((await impossible.locator('td[data-label="Retrieved (best first)"]').textContent()) ?? '', /no answer page in the first 5/);
    const refund = results.locator('tr[data-question-id="refund"]');
    assert.equal(await refund.locator('td[data-label="Expected pages"]').textContent(), 'none: not answerable');
    assert.equal(await refund.locator('td[data-label="Correct"]').textContent(), 'Yes: not sent');

    // The id with markup is text in its cell; no element was made of it.
    assert.equal(await results.locator('tbody tr').nth(3).locator('td').first().textContent(), MARKUP_ID);
    assert.equal(await page.locator('#injected').count(), 0);

    // The run is listed with its figures, and its Results link reopens it.
    const run = section.getByRole('region', { name: 'Evaluations' }).locator('tbody tr');
    assert.equal(await run.count(), 1);
    assert.equal(await run.locator('td[data-label="Status"]').textContent(), 'done');
    assert.equal(await run.locator('td[data-label="Recall@3"]').textContent(), '1/2 (50%)');
    await saveScreenshot(page, 'evaluation-results');
    await checkPhoneLayout(page, 'evaluation-results');
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});

test('a long run shows its progress, and a second start meanwhile is refused with a message', async () => {
  const many = path.join(folder, 'many.jsonl');
  await writeFile(many, jsonl(Array.from({ length: 400 }, (_, index) => ({ ...QUESTIONS[2], id: `q${index}` }))));
  const api = apiOf(pipeline);
  const session = await openDashboard(browser, api.url, { token: api.token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Test questions', 'evaluations');
    await section.getByLabel('Mailbox', { exact: true }).selectOption(ACME);
    await section.getByLabel('Questions (.jsonl)').setInputFiles(many);
    await section.getByRole('button', { name: 'Start' }).click();
    const progress = section.locator('.evaluation-detail progress');
    await progress.waitFor({ timeout: 30_000 });
    // It moves: the count of questions done grows while the page polls.
    await section.locator('.evaluation-detail .progress span', { hasText: /^[1-9]\d* of 400 questions$/ }).waitFor({ timeout: 60_000 });
    assert.equal(await section.locator('tr.current td[data-label="Status"]').textContent(), 'running');
    await saveScreenshot(page, 'evaluation-running');

    await section.getByLabel('Questions (.jsonl)').setInputFiles(many);
    await section.getByRole('button', { name: 'Start' }).click();
    await section
      .getByRole('alert')
      .filter({ hasText: /an evaluation is running .*one at a time/ })
      .waitFor();
    await checkPhoneLayout(page, 'evaluation-running');
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
