/**
 * End-to-end test support for the dashboard: Chromium through playwright-core (the Debian package,
 * no download), one fresh browser context per test, and screenshots kept as CI artifacts.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import type { Pipeline } from './pipeline.js';
import { PROJECT_ROOT } from './worker-process.js';

/** The Chromium binary; CHROMIUM_PATH overrides the Debian location. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Where screenshots go (CI uploads the folder as an artifact). */
export const SCREENSHOT_DIR = path.join(PROJECT_ROOT, 'artifacts', 'screenshots');

/**
 * The machine's network is closed: without these flags Chromium keeps trying to reach Google's
 * services (updates, sync, QUIC probes) and floods the log with refused connections.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts headless Chromium; the error names CHROMIUM_PATH when the binary is missing. */
export async function launchBrowser(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  } catch (error) {
    throw new Error(`Cannot start Chromium at ${CHROMIUM_PATH} (install the chromium package or set CHROMIUM_PATH): ${(error as Error).message}`);
  }
}

/** Options of {@link openDashboard}. */
export interface DashboardOptions {
  /** API token put in the `#token=` fragment, as in the link the demo prints; none opens the page signed out. */
  token?: string;
  /** Default 1280×900; 360 wide for the phone layout. */
  viewport?: { width: number; height: number };
}

/** A page of the dashboard in a browser context of its own. */
export interface DashboardSession {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions of the page's scripts and Content-Security-Policy violations: a test expects none. */
  errors: string[];
  close(): Promise<void>;
}

/** The api role's address and token of a pipeline started with it. */
export function apiOf(pipeline: Pipeline): { url: string; token: string } {
  if (!pipeline.apiUrl || !pipeline.apiToken) throw new Error('the pipeline runs no api role: start it with the role api');
  return { url: pipeline.apiUrl, token: pipeline.apiToken };
}

/** Opens the dashboard at `apiUrl` in a fresh context and waits until its script ran. */
export async function openDashboard(browser: Browser, apiUrl: string, options: DashboardOptions = {}): Promise<DashboardSession> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Chromium reports what the page's Content-Security-Policy blocked on the console only.
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) errors.push(message.text());
  });
  // Delete buttons ask for confirmation; tests confirm.
  page.on('dialog', (dialog) => {
    void dialog.accept();
  });
  const base = apiUrl.replace(/\/$/, '');
  await page.goto(options.token ? `${base}/#token=${encodeURIComponent(options.token)}` : `${base}/`);
  // The page either signs in (the navigation shows) or offers the sign-in form.
  await page.locator('#nav:not([hidden]), #sign-in:not([hidden])').first().waitFor();
  return { context, page, errors, close: () => context.close() };
}

/** Follows a navigation link by its text and waits for its section to show. */
export async function goToSection(page: Page, linkText: string, sectionId: string): Promise<Locator> {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: linkText }).click();
  const section = page.locator(`section#${sectionId}`);
  await section.waitFor({ state: 'visible' });
  return section;
}

/** Saves a full-page PNG as `artifacts/screenshots/<name>.png` and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** How many pixels the page scrolls sideways (0 when it fits), and the first elements that stick out. */
export async function sidewaysOverflow(page: Page): Promise<{ pixels: number; culprits: string }> {
  return page.evaluate(() => ({
    pixels: Math.max(0, document.documentElement.scrollWidth - window.innerWidth),
    culprits: [...document.querySelectorAll<HTMLElement>('body *')]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth)
      .slice(0, 5)
      .map(
        (element) =>
          `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}${element.className ? `.${String(element.className).replace(/ /g, '.')}` : ''}`,
      )
      .join(' '),
  }));
}

/** Saves `<name>-360px.png` at phone width, checks nothing scrolls sideways, and restores the viewport. */
export async function checkPhoneLayout(page: Page, name: string): Promise<void> {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 740 });
  try {
    await saveScreenshot(page, `${name}-360px`);
    const overflow = await sidewaysOverflow(page);
    if (overflow.pixels > 0) throw new Error(`${name} at 360 px scrolls sideways by ${overflow.pixels} px: ${overflow.culprits}`);
  } finally {
    if (before) await page.setViewportSize(before);
  }
}
