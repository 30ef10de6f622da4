/**
 * Debian's headless Chromium, driven by playwright-core, for the dashboard's browser tests.
 * Each browser gets its own profile folder, removed on close.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is here; when not, says which test is skipped and how to get it. */
export function chromiumOrWarn(what: string): boolean {
  const found = existsSync(CHROMIUM);
  if (!found) console.warn(`${what} skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);
  return found;
}

export interface Browser {
  page: Page;
  /** Script errors and CSP violations the page reported; refused fetches (401, 403, 404) are expected. */
  problems: string[];
  close(): Promise<void>;
}

/** A fresh headless Chromium with one page of the given size. */
export async function openBrowser(viewport: { width: number; height: number }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'qgjob-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return {
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
