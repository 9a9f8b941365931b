/**
 * The dashboard's doors and reach: sign-in without a token, the token taken from the link and kept
 * out of the address bar, a 401 sending the page back to sign-in; every main control reachable by
 * keyboard with a visible focus; every section usable at 360 px wide (screenshots of each); an
 * opt-in "remember me" that lets a new tab in until sign-out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { apiOf, goToSection, launchBrowser, openDashboard, saveScreenshot, sidewaysOverflow } from '../helpers/browser.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';

let browser: Browser;
let pipeline: Pipeline;

before(async () => {
  pipeline = await startPipeline(['classifier', 'recorder', 'api']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pipeline?.close();
});

const storedToken = (page: Page) => page.evaluate(() => sessionStorage.getItem('ragmail.token'));

test('without a token only the sign-in form shows; a wrong token is refused, the right one signs in and never stays in the address bar', async () => {
  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url);
  try {
    const { page } = session;
    assert.equal(await page.locator('#sign-in').isVisible(), true);
    assert.equal(await page.locator('#nav').isVisible(), false);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token');
    await saveScreenshot(page, 'sign-in');

    await page.getByLabel('Access token').fill('not-the-token');
    await page.keyboard.press('Enter');
    await page.locator('#sign-in-error', { hasText: /refused/ }).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    assert.equal(await storedToken(page), null);

    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#nav').waitFor();
    assert.equal((await page.locator('#who strong').textContent())?.trim(), 'tester');
    assert.equal(await storedToken(page), token);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor();
    assert.equal(await storedToken(page), null);
  } finally {
    await session.close();
  }

  const linked = await openDashboard(browser, url, { token });
  try {
    const { page } = linked;
    await page.locator('#nav').waitFor();
    assert.ok(!page.url().includes(token), `the token left the address bar (${page.url()})`);
    assert.equal(new URL(page.url()).hash, '#/overview');
    assert.equal(await storedToken(page), token);

    // A token the API stops accepting sends the page back to the sign-in form.
    await page.evaluate(() => sessionStorage.setItem('ragmail.token', 'revoked'));
    await page.getByRole('link', { name: 'Broker' }).click();
    await page.locator('#sign-in-error', { hasText: /refused/ }).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    assert.equal(await storedToken(page), null);
    assert.deepEqual([...linked.errors], []);
  } finally {
    await linked.close();
  }
});

test('a new tab asks for the token again unless "remember me on this browser" was ticked; signing out forgets it everywhere', async () => {
  const { url, token } = apiOf(pipeline);
  const signIn = async (remember: boolean) => {
    const session = await openDashboard(browser, url);
    const { page } = session;
    await page.getByLabel('Access token').fill(token);
    if (remember) await page.getByLabel('Remember me on this browser').check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#nav').waitFor();
    return session;
  };
  /** Opens the dashboard in another tab of the same browser profile: sessionStorage is per tab, localStorage is shared. */
  const newTabSignedIn = async (session: Awaited<ReturnType<typeof signIn>>) => {
    const tab = await session.context.newPage();
    await tab.goto(`${url}/`);
    await tab.locator('#nav:not([hidden]), #sign-in:not([hidden])').first().waitFor();
    const signedIn = await tab.locator('#nav').isVisible();
    await tab.close();
    return signedIn;
  };

  const forgetful = await signIn(false);
  try {
    assert.equal(await forgetful.page.evaluate(() => localStorage.getItem('ragmail.token')), null);
    assert.equal(await newTabSignedIn(forgetful), false, 'without the box, a new tab asks again');
  } finally {
    await forgetful.close();
  }
  const remembered = await signIn(true);
  try {
    assert.equal(await newTabSignedIn(remembered), true, 'remembered: a new tab is signed in');
    await remembered.page.getByRole('button', { name: 'Sign out' }).click();
    await remembered.page.locator('#sign-in').waitFor();
    assert.equal(await remembered.page.evaluate(() => localStorage.getItem('ragmail.token')), null);
    assert.equal(await newTabSignedIn(remembered), false, 'signed out: forgotten in every tab');
    assert.deepEqual(remembered.errors, []);
  } finally {
    await remembered.close();
  }
});

/** What has focus: its role-ish tag and its accessible text, e.g. `a:Manuals`, `input:Search`. */
async function focused(page: Page): Promise<{ name: string; outline: string }> {
  return page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    if (!element) return { name: '', outline: 'none' };
    const labelled = (element as HTMLInputElement).labels?.[0]?.textContent ?? element.getAttribute('aria-label') ?? element.textContent ?? '';
    const style = getComputedStyle(element);
    return { name: `${element.tagName.toLowerCase()}:${labelled.trim().replace(/\s+/g, ' ')}`, outline: `${style.outlineStyle} ${style.outlineWidth}` };
  });
}

/** Presses Tab until an element named `name` has focus; fails after `limit` presses. Returns what was passed. */
async function tabTo(page: Page, name: string, limit = 40): Promise<string[]> {
  const passed: string[] = [];
  for (let press = 0; press < limit; press += 1) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    passed.push(now.name);
    if (now.name === name) {
      assert.notEqual(now.outline.split(' ')[0], 'none', `${name} shows where the focus is`);
      assert.notEqual(now.outline.split(' ')[1], '0px', `${name} shows where the focus is`);
      return passed;
    }
  }
  throw new Error(`Tab never reached ${name}; it went through: ${passed.join(', ')}`);
}

/** Waits until the element named `name` has focus (a route change moves it after its hashchange event). */
async function focusReaches(page: Page, name: string): Promise<void> {
  const deadline = Date.now() + 5000;
  let now = await focused(page);
  while (now.name !== name && Date.now() < deadline) {
    await page.waitForTimeout(50);
    now = await focused(page);
  }
  assert.equal(now.name, name);
}

test('the keyboard alone reaches the navigation, the mailbox selector and the main controls of each section, with a visible focus', async () => {
  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    await page.locator('#overview .summary:not(:empty)').first().waitFor();
    const start = await tabTo(page, 'a:Skip to content', 1);
    assert.deepEqual(start, ['a:Skip to content']);
    await tabTo(page, 'button:Sign out');
    for (const link of ['Overview', 'Manuals', 'Email timeline', 'Review queue', 'Knowledge gaps', 'Test questions', 'Dead letters', 'Broker'])
      await tabTo(page, `a:${link}`);
    await tabTo(page, 'select:Mailbox');

    // Enter on a navigation link opens its section and moves the focus to its heading.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await focusReaches(page, 'h2:Broker');

    const sections: Array<[string, string, string[]]> = [
      ['Overview', 'Overview', ['input:From', 'input:To', 'button:Show', 'button:Last 7 days', 'button:Last 30 days']],
      // No mailbox is known yet in this pipeline: the upload offers another address at once.
      ['Manuals', 'Manuals', ['select:Mailbox', 'input:New mailbox address', 'input:PDF manuals', 'button:Upload']],
      ['Email timeline', 'Email timeline', ['input:Search', 'select:State', 'select:Category', 'button:Apply filters', 'button:Clear']],
      ['Review queue', 'Review queue', ['select:Show', 'button:Refresh']],
      ['Knowledge gaps', 'Knowledge gaps', ['input:From', 'input:To', 'button:Show', 'button:Export CSV']],
      ['Test questions', 'Test questions', ['select:Mailbox', 'input:Questions (.jsonl)', 'button:Start']],
      ['Dead letters', 'Dead letters', ['button:Refresh']],
    ];
    for (const [link, heading, controls] of sections) {
      await page.locator('nav').getByRole('link', { name: link }).focus();
      await page.keyboard.press('Enter');
      await focusReaches(page, `h2:${heading}`);
      for (const control of controls) await tabTo(page, control, 8);
    }
    assert.deepEqual(session.errors, []);
  } finally {
    await session.close();
  }
});

test('every section renders at 1280 and at 360 px wide without sideways scrolling; the broker view shows live queues', async () => {
  const { url, token } = apiOf(pipeline);
  for (const viewport of [
    { width: 1280, height: 900 },
    { width: 360, height: 740 },
  ]) {
    const session = await openDashboard(browser, url, { token, viewport });
    try {
      const { page } = session;
      for (const [link, id] of [
        ['Overview', 'overview'],
        ['Manuals', 'manuals'],
        ['Email timeline', 'emails'],
        ['Review queue', 'reviews'],
        ['Knowledge gaps', 'gaps'],
        ['Test questions', 'evaluations'],
        ['Dead letters', 'dead-letters'],
        ['Broker', 'broker'],
      ]) {
        const section = await goToSection(page, link, id);
        // Each section says something once its first answer came: a summary, a table or an empty note.
        await section.locator('.summary:not(:empty), .empty, table').first().waitFor();
        if (id === 'broker') {
          const classify = section.locator('tr[data-queue="emails.to_classify"]');
          await classify.waitFor();
          // The classifier of this pipeline consumes: the management API's live numbers reach the page.
          await section.locator('tr[data-queue="emails.to_classify"] td:nth-child(5)', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
          assert.ok((await section.locator('tr[data-queue="dead_letter_queue"]').count()) === 1);
        }
        await saveScreenshot(page, `${id}-${viewport.width}px`);
        const overflow = await sidewaysOverflow(page);
        assert.equal(overflow.pixels, 0, `${id} at ${viewport.width} px scrolls sideways by ${overflow.pixels} px: ${overflow.culprits}`);
      }
      assert.deepEqual(session.errors, []);
    } finally {
      await session.close();
    }
  }
});

test('the Content-Security-Policy holds in the browser: the signed-in page runs without a violation, an injected inline script or style is blocked and reported', async () => {
  const { url, token } = apiOf(pipeline);
  const session = await openDashboard(browser, url, { token });
  try {
    const { page } = session;
    await page.locator('#overview .summary:not(:empty)').first().waitFor();
    assert.deepEqual(session.errors, [], 'the page itself needs nothing the policy forbids');

    // What a markup injection would try: an inline script and an inline style.
    const ran = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.injected = true;';
      document.body.append(script);
      const style = document.createElement('style');
      style.textContent = 'body { display: none !important; }';
      document.head.append(style);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { script: (window as unknown as { injected?: boolean }).injected === true, hidden: getComputedStyle(document.body).display === 'none' };
    });
    assert.deepEqual(ran, { script: false, hidden: false }, 'the injected script and style did not apply');
    await page.waitForTimeout(200);
    assert.ok(
      session.errors.some((error) => /inline script/i.test(error)),
      `the script's violation is reported: ${session.errors.join(' | ')}`,
    );
    assert.ok(
      session.errors.some((error) => /inline style/i.test(error)),
      `the style's violation is reported: ${session.errors.join(' | ')}`,
    );
  } finally {
    await session.close();
  }
});
