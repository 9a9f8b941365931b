/**
 * The conversation view in Chromium: an email the pipeline answered on its own reads as the
 * customer's text, the whole reply as it went out (the outbox file's text, not an excerpt), the
 * decision with its reasons and the timeline; each source is a link that opens the stored PDF at
 * its page in a new tab, through a signed link that carries no API token.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { ACME, SAMPLES, deliverEmail, ingestSampleManuals, readReplies, startPipeline, waitForFinalStates, type Pipeline } from '../helpers/pipeline.js';

let browser: Browser;
let pipeline: Pipeline;

before(async () => {
  // Thresholds at zero: the local model's grounded reply goes out on its own, as a production model's would.
  pipeline = await startPipeline(['poller', 'classifier', 'responder', 'sender', 'ingester', 'recorder', 'api'], {
    SEND_POLICY: 'auto',
    AUTO_SEND_MIN_CONFIDENCE: '0',
    AUTO_SEND_MIN_SCORE: '0',
    AUTO_SEND_MIN_MARGIN: '-1',
    AUTO_SEND_MIN_MODEL_CONFIDENCE: '0',
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
});

test('a sent reply reads in full beside the customer email and the decision; a source opens its PDF at the cited page', async () => {
  await ingestSampleManuals(pipeline);
  const raw = await readFile(path.join(SAMPLES, 'emails', ACME, '01-router-reset.eml'));
  const { email } = await deliverEmail(pipeline, ACME, raw);
  const summary = (await waitForFinalStates(pipeline, [email.email_id], 90_000)).get(email.email_id);
  assert.equal(summary?.state, 'sent', `the reply went out on its own (${summary?.outcome})`);
  const sent = (await readReplies(pipeline, ACME)).find((reply) => reply.folder === 'outbox');
  assert.ok(sent?.parsed.text);

  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Email timeline', 'emails');
    // The Category filter offers the classifier's categories, not free text.
    await section.getByLabel('Category').locator('option', { hasText: 'billing' }).waitFor({ state: 'attached' });
    const categories = await section.getByLabel('Category').locator('option').allTextContents();
    for (const name of ['Any category', 'technical', 'billing', 'account', 'general', 'spam']) assert.ok(categories.includes(name), `category ${name}`);
    await section.locator(`tr[data-email-id="${email.email_id}"]`).getByRole('link').click();
    const detail = section.locator('article.detail');
    await detail.locator('.full-reply').waitFor();

    assert.equal((await detail.locator('.customer-body').textContent())?.trim(), email.body.replace(/\r\n?/g, '\n').trim());
    // The sender's address breaks only after its @ or before a dot (a <wbr> there), never mid-word.
    const from = detail.locator('section.conversation .address').first();
    assert.equal((await from.textContent())?.trim(), email.from);
    assert.equal(await from.locator('wbr').count(), email.from.split(/(?=[.@])/).length - 1);
    assert.equal(await from.evaluate((element) => getComputedStyle(element).overflowWrap), 'break-word');
    const reply = (await detail.locator('.full-reply').textContent()) ?? '';
    assert.equal(reply.trim(), sent.parsed.text.replace(/\r\n?/g, '\n').trim(), 'the reply exactly as it went out');
    assert.ok(reply.length > 300, 'more than the excerpt the timeline used to show');
    assert.match((await detail.locator('#reply-title').textContent()) ?? '', /As sent/);
    const decision = detail.locator('section.decision');
    assert.match((await decision.textContent()) ?? '', /Sent on its own/);
    assert.ok((await decision.locator('.reasons li').count()) > 0, 'the reasons of the decision are listed');
    const journey = (await detail.locator('table').textContent()) ?? '';
    for (const stage of ['received', 'classified', 'retrieved', 'replied', 'sent']) assert.ok(journey.includes(stage), `the timeline shows ${stage}`);

    const links = detail.locator('a.citation-link');
    assert.ok((await links.count()) > 0, 'the sources are links');
    const href = (await links.first().getAttribute('href')) ?? '';
    assert.match(href, /\/manual-files\/[^?#]+\?expires=\d+&signature=[\w-]+#page=\d+$/);
    assert.ok(!href.includes(token), 'the API token is not in the link');
    assert.equal(await links.first().getAttribute('target'), '_blank');
    await saveScreenshot(page, 'conversation');
    await checkPhoneLayout(page, 'conversation');

    // The link opens a new tab that loads the PDF itself (served inline), at the page of the fragment.
    const pdfResponse = session.context.waitForEvent('response', (response) => response.url().includes('/manual-files/'));
    const [tab] = await Promise.all([session.context.waitForEvent('page'), links.first().click()]);
    const response = await pdfResponse;
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['content-type'], 'application/pdf');
    assert.match(tab.url(), /#page=\d+$/);
    await tab.waitForTimeout(1500);
    await saveScreenshot(tab, 'conversation-pdf').catch(() => undefined);
    await tab.close();
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
