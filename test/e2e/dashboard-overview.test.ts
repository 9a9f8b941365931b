/**
 * The lead's sections in Chromium, over the sample emails run through every role (SEND_POLICY=auto)
 * plus a few earlier days recorded by hand: the Overview is the first thing the page shows, its
 * charts and tables carry the API's numbers for the chosen period and mailbox; the Knowledge gaps
 * list the handed-off questions with examples that open their conversation, the pages cited most,
 * and export a CSV.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildEvent } from '../../src/messaging/events.js';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { statistics } from '../../src/store/statistics.js';
import { ReviewQueue } from '../../src/store/reviews.js';
import { waitFor } from '../helpers/broker.js';
import { apiOf, checkPhoneLayout, goToSection, launchBrowser, openDashboard, saveScreenshot } from '../helpers/browser.js';
import { ACME, GLOBEX, deliverSampleEmails, ingestSampleManuals, startPipeline, waitForFinalStates, type Pipeline } from '../helpers/pipeline.js';

let browser: Browser;
let pipeline: Pipeline;
const DAY_MS = 86_400_000;

/** Local `YYYY-MM-DD` of the machine the browser runs on (the same one). */
const localDay = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 10);

/** Earlier days of ACME, recorded as the roles would have said them: a trend to draw. */
async function recordHistory(): Promise<void> {
  const noon = Date.parse(`${localDay(Date.now())}T12:00:00`);
  for (const [daysAgo, sent, handedOff] of [
    [3, 4, 1],
    [2, 6, 2],
    [1, 5, 0],
  ] as const) {
    for (let index = 0; index < sent + handedOff; index += 1) {
      const emailId = `<history-${daysAgo}-${index}@example.com>`;
      const start = noon - daysAgo * DAY_MS + index * 60_000;
      const record = (stage: string, offsetMs: number, detail: Record<string, unknown>, role = 'test') =>
        pipeline.activity.record(
          buildEvent(role, { stage, email_id: emailId, agent_email: ACME, timestamp: new Date(start + offsetMs).toISOString(), detail } as never),
        );
      await record('received', 0, { from: 'customer@example.com', subject: `Question ${index}`, received_at: new Date(start).toISOString(), priority: 5 });
      await record('classified', 2000, { is_support_inquiry: true, category: 'technical', confidence: 0.9, reasoning: 'r' });
      if (index < sent) await record('sent', 20_000 + index * 15_000, { mode: 'auto', message_id: `<r-${daysAgo}-${index}>` }, 'sender');
      else await record('handed_off', 9000, { mode: 'auto', message_id: `<r-${daysAgo}-${index}>`, reason: 'nothing relevant in the manuals' }, 'sender');
    }
  }
}

before(async () => {
  pipeline = await startPipeline(ROLE_NAMES, { SEND_POLICY: 'auto' });
  browser = await launchBrowser();
  await ingestSampleManuals(pipeline);
  const delivered = await deliverSampleEmails(pipeline);
  await waitForFinalStates(
    pipeline,
    [...delivered.values()].map(({ email }) => email.email_id),
    120_000,
  );
  // A reviewer edits one draft and rejects another, through the API as the page does.
  const reviews = new ReviewQueue(pipeline.database);
  const pending = await reviews.list({ status: 'pending' });
  assert.ok(pending.length >= 2, `drafts to review (${pending.length})`);
  const call = (path: string, json: unknown) =>
    fetch(`${pipeline.apiUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pipeline.apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(json),
    });
  const sendable = pending.find((review) => review.recipient !== null);
  assert.ok(sendable);
  assert.equal((await call(`/api/reviews/${encodeURIComponent(sendable.email_id)}/approve`, { body: `${sendable.reply_body}\n\nP.S. edited` })).status, 202);
  const other = pending.find((review) => review.email_id !== sendable.email_id)!;
  assert.equal((await call(`/api/reviews/${encodeURIComponent(other.email_id)}/reject`, { note: 'answered by phone' })).status, 200);
  await waitFor(async () => (await pipeline.activity.getEmail(sendable.email_id))?.state === 'sent', { timeoutMs: 30_000, what: 'the approved reply sent' });
  await recordHistory();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
});

test('the overview opens first and shows, for the period and mailbox, outcomes per day, auto-send rate, time to reply, review decisions and hand-off reasons as charts and tables', async () => {
  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    const section = page.locator('section#overview');
    await section.waitFor({ state: 'visible' });
    assert.equal(new URL(page.url()).hash, '#/overview', 'the overview is the landing section');
    await section.locator('.key-figures dd').first().waitFor();

    const offset = -new Date().getTimezoneOffset();
    const today = localDay(Date.now());
    const expected = await statistics(pipeline.database, { from: localDay(Date.now() - 6 * DAY_MS), to: today, utcOffsetMinutes: offset });
    const table = section.getByRole('region', { name: 'Emails by outcome per day' });
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 8, 'seven days and a total');
    const headings = (await table.locator('thead th').allTextContents()).map((text) => text.trim());
    const totalCells = (await rows.last().locator('th, td').allTextContents()).map((text) => text.trim());
    assert.equal(totalCells[0], 'Total');
    assert.equal(totalCells.at(-1), String(expected.totals.emails));
    assert.equal(totalCells[headings.indexOf('Sent on its own')], String(expected.totals.auto_sent));
    assert.equal(totalCells[headings.indexOf('Handed off')], String(expected.totals.handed_off));
    assert.ok(expected.totals.auto_sent > 0 && expected.totals.handed_off > 0 && expected.totals.approved_sent === 1);
    // uPlot draws the chart on a canvas in each series' colour (its legend swatch's): a series'
    // share of the coloured pixels is its share of the emails, as the bars are all one width.
    await section.locator('.chart-figure .chart canvas').first().waitFor();
    const drawn = await section
      .locator('.chart-figure')
      .first()
      .evaluate((figure) => {
        const canvas = figure.querySelector('canvas')!;
        const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = new Map<string, string>();
        for (const swatch of figure.querySelectorAll<HTMLElement>('.legend .swatch')) {
          const key = [...swatch.classList].find((name) => name.startsWith('series-'))!.slice('series-'.length);
          const [red, green, blue] = getComputedStyle(swatch).backgroundColor.match(/\d+/g)!.map(Number);
          colours.set(`${red},${green},${blue}`, key);
        }
        const counts: Record<string, number> = Object.fromEntries([...colours.values()].map((key) => [key, 0]));
        for (let index = 0; index < pixels.length; index += 4) {
          const key = pixels[index + 3] === 255 ? colours.get(`${pixels[index]},${pixels[index + 1]},${pixels[index + 2]}`) : undefined;
          if (key) counts[key] += 1;
        }
        return { width: canvas.width, height: canvas.height, counts };
      });
    assert.ok(drawn.width > 300 && drawn.height > 100, `canvas ${drawn.width}×${drawn.height}`);
    const legendKeys = Object.keys(drawn.counts);
    assert.ok(legendKeys.includes('auto_sent') && legendKeys.includes('handed_off'), legendKeys.join());
    const count = (key: string) => expected.totals[key as keyof typeof expected.totals] as number;
    const emailsDrawn = legendKeys.reduce((sum, key) => sum + count(key), 0);
    const pixelsDrawn = Object.values(drawn.counts).reduce((sum, pixels) => sum + pixels, 0);
    for (const key of legendKeys) {
      assert.equal(drawn.counts[key] > 0, count(key) > 0, `${key}: ${drawn.counts[key]} pixels for ${count(key)} emails`);
      const share = drawn.counts[key] / pixelsDrawn;
      assert.ok(
        Math.abs(share - count(key) / emailsDrawn) < 0.03,
        `${key}: ${(share * 100).toFixed(1)} % of the bars for ${count(key)} of ${emailsDrawn} emails`,
      );
    }

    const figures = (await section.locator('.key-figures').textContent()) ?? '';
    assert.match(figures, new RegExp(`Auto-send rate${Math.round((expected.auto_send_rate ?? 0) * 100)}%`));
    assert.match(figures, /Drafts edited before sending1 of 1/);
    const waits = section.getByRole('region', { name: 'Time from arrival to the reply going out' });
    assert.match((await waits.locator('tbody tr').first().textContent()) ?? '', new RegExp(`All sent replies${expected.time_to_reply.all.count}`));
    const reviewTable = section.getByRole('region', { name: 'What reviewers did with drafts' });
    assert.match((await reviewTable.textContent()) ?? '', /Approved after editing1.*Rejected1/);
    const handoffs = section.getByRole('region', { name: 'Why emails were handed off' });
    assert.match((await handoffs.textContent()) ?? '', /nothing relevant in the manuals/);
    await saveScreenshot(page, 'overview');
    await checkPhoneLayout(page, 'overview');

    // The mailbox selector narrows the figures; the period can be widened.
    await page.locator('#mailbox').selectOption(GLOBEX);
    await section.locator('.summary', { hasText: `in ${GLOBEX}` }).waitFor();
    const globex = await statistics(pipeline.database, {
      from: localDay(Date.now() - 6 * DAY_MS),
      to: today,
      utcOffsetMinutes: offset,
      agentEmail: GLOBEX,
    });
    assert.match((await section.locator('.summary').textContent()) ?? '', new RegExp(`^${globex.totals.emails} emails`));
    await page.locator('#mailbox').selectOption('');
    await section.getByRole('button', { name: 'Last 30 days' }).click();
    await section.locator('.summary', { hasText: `from ${localDay(Date.now() - 29 * DAY_MS)}` }).waitFor();
    assert.equal(await rows.count(), 31);
    assert.equal(await section.locator('.chart-figure canvas').count(), 1, 'one chart, the earlier one gone');
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});

test('knowledge gaps group the handed-off questions with examples that open their conversation, list the pages cited most, and export a CSV', async () => {
  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    const section = await goToSection(page, 'Knowledge gaps', 'gaps');
    await section.locator('.summary:not(:empty)').waitFor();
    const groups = section.locator('tr.gap-group');
    assert.ok((await groups.count()) > 0, 'the handed-off sample questions are listed');
    const cited = section.locator('tr.cited-page');
    assert.ok((await cited.count()) > 0, 'the pages cited by the sent replies are listed');
    await saveScreenshot(page, 'knowledge-gaps');
    await checkPhoneLayout(page, 'knowledge-gaps');

    const [download] = await Promise.all([page.waitForEvent('download'), section.getByRole('button', { name: 'Export CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^knowledge-gaps-all-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.equal(csv.split('\r\n')[0], 'group,group_count,email_id,subject,why,state,top_score');

    const example = groups.first().locator('.examples a').first();
    const subject = (await example.textContent())?.trim();
    await example.click();
    const detail = page.locator('section#emails article.detail');
    await detail.locator('h3', { hasText: subject }).waitFor();
    await detail.locator('section.decision').waitFor();
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});
