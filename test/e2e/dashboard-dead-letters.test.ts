/**
 * Dead letters from the page: two wrapped records of emails that failed in emails.to_classify
 * (as the consumer runtime writes them) sit in dead_letter_queue; the operator inspects one and
 * replays it, which carries the email to a final state, and discards the other.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { ACME, classifyMessage, openChannel, startPipeline, waitForFinalStates, type Pipeline } from '../helpers/pipeline.js';
import type { DeadLetterRecord, ToClassifyMessage } from '../../src/pipeline/messages.js';
import { QUEUES } from '../../src/messaging/topology.js';

let browser: Browser;
let pipeline: Pipeline;

before(async () => {
  pipeline = await startPipeline(['classifier', 'responder', 'sender', 'recorder', 'api']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
});

/** The record the consumer runtime writes when a message failed for good (docs/ARCHITECTURE.md#dead-letters). */
function deadLetterOf(original: ToClassifyMessage, errorMessage: string): DeadLetterRecord {
  return {
    message_id: randomUUID(),
    timestamp: new Date(Date.now() - 90_000).toISOString(),
    original_queue: QUEUES.toClassify,
    original_message: original,
    failure_info: { error_message: errorMessage, error_type: 'llm_unavailable', retry_count: 3, stack_trace: null, consumer_id: 'classifier@e2e' },
  };
}

test('a dead letter replayed from the page reaches a final state; another one is discarded', async () => {
  const replayed = await classifyMessage(ACME, makeEmail({ subject: 'Router keeps rebooting', body: 'Hello, my router keeps rebooting. How do I fix it?\n' }));
  const discarded = await classifyMessage(ACME, makeEmail({ subject: 'Old failure', body: 'Hello, why is my invoice wrong?\n' }));
  const records = [deadLetterOf(replayed, 'all language models timed out'), deadLetterOf(discarded, 'a failure nobody needs back')];
  const raw = await openChannel(pipeline);
  try {
    for (const record of records) {
      raw.channel.sendToQueue(QUEUES.deadLetter, Buffer.from(JSON.stringify(record)), {
        persistent: true,
        contentType: 'application/json',
        messageId: record.message_id,
      });
    }
    await raw.channel.checkQueue(QUEUES.deadLetter);
  } finally {
    await raw.close();
  }

  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Dead letters', 'dead-letters');
    const row = section.locator(`tr[data-dead-letter-id="${records[0].message_id}"]`);
    const other = section.locator(`tr[data-dead-letter-id="${records[1].message_id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await other.waitFor();
    assert.match((await row.textContent()) ?? '', /llm_unavailable/);
    assert.match((await row.textContent()) ?? '', /all language models timed out/);
    assert.match((await row.textContent()) ?? '', /emails\.to_classify/);

    const inspect = row.getByRole('button', { name: 'Inspect' });
    await inspect.click();
    assert.equal(await inspect.getAttribute('aria-expanded'), 'true');
    const recordView = section.locator(`#${await inspect.getAttribute('aria-controls')} pre.record`);
    await recordView.waitFor();
    const shown = JSON.parse((await recordView.textContent()) ?? '') as DeadLetterRecord;
    assert.deepEqual(shown, JSON.parse(JSON.stringify(records[0])));
    await saveScreenshot(page, 'dead-letters');
    await checkPhoneLayout(page, 'dead-letters');

    await row.getByRole('button', { name: /^Replay / }).click();
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    await other.getByRole('button', { name: /^Discard / }).click();
    await section.locator('.summary', { hasText: 'No dead letters' }).waitFor({ timeout: 15_000 });
    assert.equal(await section.locator('tbody tr').count(), 0);

    const emailId = replayed.email.email_id;
    const final = (await waitForFinalStates(pipeline, [emailId])).get(emailId);
    assert.ok(final);
    assert.notEqual(final.state, 'dead_lettered');
    // The discarded one never ran again.
    assert.equal((await pipeline.activity.getEmail(discarded.email.email_id))?.state ?? 'unseen', 'unseen');
    const check = await openChannel(pipeline);
    try {
      assert.equal((await check.channel.checkQueue(QUEUES.deadLetter)).messageCount, 0);
    } finally {
      await check.close();
    }

    // The timeline shows where the replayed email ended, and the replay itself.
    await page.goto(`${url}/#/emails/${encodeURIComponent(emailId)}`);
    const detail = page.locator('#emails article.detail');
    await detail
      .locator('.facts .badge', { hasText: final.state.replace(/_/g, ' ') })
      .first()
      .waitFor({ timeout: 15_000 });
    assert.match((await detail.locator('table').textContent()) ?? '', /replayed/);
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
