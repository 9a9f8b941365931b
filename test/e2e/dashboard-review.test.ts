/**
 * The review queue end to end: with SEND_POLICY=review, an email dropped into the Maildir becomes a
 * drafted reply; the operator reads it beside its passages in the page, edits it, approves it, and
 * the edited reply lands in the mailbox's outbox while the timeline shows the email as sent. Each
 * card names the address the reply will go to (the Reply-To, not the From); a draft with no single
 * valid recipient says why and offers no approval.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { waitFor } from '../helpers/broker.js';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { ACME, GLOBEX, deliverEmail, ingestSampleManuals, readReplies, recipientsOf, startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { ReviewQueue } from '../../src/store/reviews.js';

let browser: Browser;
let pipeline: Pipeline;

before(async () => {
  pipeline = await startPipeline(['poller', 'classifier', 'responder', 'sender', 'ingester', 'recorder', 'api'], { SEND_POLICY: 'review' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
});

test('drafted replies are read beside their passages; one is edited and approved and goes out with the edit, the other is rejected and never sent', async () => {
  await ingestSampleManuals(pipeline);
  // Markup in the subject must show as text, never become elements.
  const subject = 'Router reset <b>help</b>';
  const delivered = await deliverEmail(
    pipeline,
    ACME,
    makeEmail({
      from: 'Dana Customer <dana@example.com>',
      subject,
      body: 'Hello, how do I reset my X200 router to factory settings?\n',
      headers: { 'Reply-To': 'Dana at home <dana.home@example.net>' },
    }),
  );
  const listed = await deliverEmail(
    pipeline,
    ACME,
    makeEmail({
      from: 'kim@example.com',
      subject: 'Router lights',
      body: 'Hello, what do the lights of my X200 router mean?\n',
      headers: { 'Reply-To': `<${Array.from({ length: 200 }, (_, index) => `victim${index}@strangers.example`).join(',')}>` },
    }),
  );
  const declined = await deliverEmail(
    pipeline,
    ACME,
    makeEmail({
      from: 'lee@example.com',
      subject: 'Firmware question',
      body: 'Hello, how do I update the firmware of my X200 router?\n',
    }),
  );
  const emailId = delivered.email.email_id;
  const reviews = new ReviewQueue(pipeline.database);
  await waitFor(async () => (await reviews.get(emailId)) && (await reviews.get(declined.email.email_id)) && (await reviews.get(listed.email.email_id)), {
    timeoutMs: 60_000,
    what: 'the drafted replies in the review queue',
  });
  const review = await reviews.get(emailId);
  assert.ok(review);
  assert.equal(review.status, 'pending');
  assert.ok(review.message.context_used.length > 0, 'the draft was grounded on passages');

  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    const operator = (await page.locator('#who strong').textContent())?.trim();
    assert.ok(operator);
    const section = await goToSection(page, 'Review queue', 'reviews');
    const card = section.locator(`article[data-email-id="${emailId}"]`);
    await card.waitFor({ timeout: 15_000 });
    // The mailbox selector narrows the queue: nothing of Globex waits.
    await page.locator('#mailbox').selectOption(GLOBEX);
    await section.locator('.summary', { hasText: 'No pending replies.' }).waitFor();
    assert.equal(await section.locator('article.review').count(), 0);
    await page.locator('#mailbox').selectOption('');
    await card.waitFor();
    assert.equal(await section.locator('article.review').count(), 3);

    assert.equal(await card.locator('h3').textContent(), subject);
    assert.equal(await card.locator('h3 b').count(), 0);
    // The reply goes to the Reply-To, and the card says so.
    const textarea = card.getByLabel('Reply to dana.home@example.net (you can edit it)');
    assert.equal(await textarea.inputValue(), review.reply_body);
    // No single recipient: the card says why, and only rejecting is offered.
    const unsendable = section.locator(`article[data-email-id="${listed.email.email_id}"]`);
    assert.match((await unsendable.locator('.recipient-problem').textContent()) ?? '', /Reply-To names 200 addresses.*Answer by hand/);
    assert.equal(await unsendable.getByRole('button', { name: 'Approve and send' }).count(), 0);
    assert.equal(await unsendable.getByRole('button', { name: 'Reject' }).count(), 1);
    assert.ok(await unsendable.locator('textarea').evaluate((element) => (element as HTMLTextAreaElement).readOnly));
    // Every passage the reply was built from is shown with its document, page and text.
    const passages = card.locator('.review-citations li');
    assert.equal(await passages.count(), review.message.context_used.length);
    for (const [index, passage] of review.message.context_used.entries()) {
      const item = passages.nth(index);
      assert.equal((await item.locator('.filename').textContent())?.trim(), passage.source);
      assert.match((await item.locator('.cite-source').textContent()) ?? '', new RegExp(`page ${passage.page}\\b`));
      assert.equal(await item.locator('blockquote').textContent(), passage.text);
    }
    await saveScreenshot(page, 'review-queue');
    await checkPhoneLayout(page, 'review-queue');

    const other = section.locator(`article[data-email-id="${declined.email.email_id}"]`);
    await other.getByLabel('Note for a rejection (optional)').fill('Answered by phone');
    await other.getByRole('button', { name: 'Reject' }).click();
    await other.waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal((await reviews.get(declined.email.email_id))?.status, 'rejected');

    const marker = `Edited in the dashboard ${Date.now()}`;
    await textarea.fill(`${review.reply_body}\n\n${marker}`);
    await card.getByRole('button', { name: 'Approve and send' }).click();
    await card.waitFor({ state: 'detached', timeout: 15_000 });

    const sent = await waitFor(async () => (await readReplies(pipeline, ACME)).find((reply) => reply.folder === 'outbox'), {
      timeoutMs: 30_000,
      what: 'the approved reply in the outbox',
    });
    assert.ok(sent);
    const outbox = (await readReplies(pipeline, ACME)).filter((reply) => reply.folder === 'outbox');
    assert.equal(outbox.length, 1, 'the rejected reply was not sent');
    assert.ok(sent.parsed.text?.includes(marker), 'the outbox reply carries the edit');
    assert.equal(sent.headers['in-reply-to'], delivered.email.message_id_header);
    assert.deepEqual(recipientsOf(sent.parsed), ['dana.home@example.net'], 'exactly the recipient the card showed');

    // Who decided, and when, in the list of sent replies.
    await section.getByLabel('Show').selectOption('sent');
    const decided = section.locator(`article[data-email-id="${emailId}"]`);
    await decided.waitFor({ timeout: 15_000 });
    assert.equal((await decided.locator('.decided-by').textContent())?.trim(), operator);
    assert.match((await decided.locator('.decision').textContent()) ?? '', /edited/);
    assert.ok((await decided.locator('.decision time').count()) >= 1);
    await section.getByLabel('Show').selectOption('rejected');
    const rejected = section.locator(`article[data-email-id="${declined.email.email_id}"]`);
    await rejected.waitFor({ timeout: 15_000 });
    assert.equal((await rejected.locator('.decided-by').textContent())?.trim(), operator);
    assert.match((await rejected.locator('.decision').textContent()) ?? '', /Rejected by .* note: Answered by phone/);

    const timeline = await goToSection(page, 'Email timeline', 'emails');
    await timeline.getByLabel('Search').fill('Router reset');
    await timeline.getByRole('button', { name: 'Apply filters' }).click();
    const row = timeline.locator(`tr[data-email-id="${emailId}"]`);
    await row.locator('.email-state', { hasText: 'sent' }).waitFor({ timeout: 30_000 });
    assert.equal((await pipeline.activity.getEmail(emailId))?.state, 'sent');
    await saveScreenshot(page, 'email-timeline');

    await row.getByRole('link').click();
    const detail = timeline.locator('article.detail');
    await detail.locator('h3', { hasText: subject }).waitFor();
    const journey = (await detail.locator('table').textContent()) ?? '';
    for (const stage of ['received', 'classified', 'retrieved', 'replied', 'drafted', 'review approved', 'sent'])
      assert.ok(journey.includes(stage), `the journey shows ${stage}`);
    assert.ok((await detail.locator('.passages li').count()) > 0, 'the retrieved passages are listed');
    await saveScreenshot(page, 'email-detail');
    await checkPhoneLayout(page, 'email-detail');
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
