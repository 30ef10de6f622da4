/**
 * The device timeline, the trends and a submission's page in a real browser (Debian's
 * headless Chromium, driven by playwright-core) against a real job-server and a simulated
 * agent: a small farm runs three groups on two devices; the timeline shows a lane per
 * device, a bar per batch of /v1/timeline with its install mark and a tick per run; the
 * submission page leads with its failure. Skipped when /usr/bin/chromium is missing.
 *
 * Screenshots go to a temporary folder (printed). With QGJOB_UPDATE_SCREENSHOT=1 they also
 * replace docs/timeline.png and docs/submission.png.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import type { SubmissionRuns, Timeline } from '@qgjob/protocol';
import { type RunningServer, startServer } from '@qgjob/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { type Browser, chromiumOrWarn, openBrowser } from '../helpers/browser.js';
import { pgliteAdapter, type TestDb } from '../helpers/db.js';
import { until } from '../helpers/jobs.js';

const hasChromium = chromiumOrWarn('timeline browser test');
const docs = (name: string) => fileURLToPath(new URL(`../../docs/${name}`, import.meta.url));

describe('timeline and submission page in a browser', () => {
  let server: RunningServer | undefined;
  let store: TestDb | undefined;
  let agent: SimAgent | undefined;
  let browser: Browser | undefined;

  afterEach(async () => {
    await browser?.close();
    await agent?.stop();
    await server?.close();
    await store?.drop();
    browser = agent = server = store = undefined;
  });

  async function openPage(): Promise<Browser> {
    browser = await openBrowser({ width: 1280, height: 900 });
    return browser;
  }

  it.skipIf(!hasChromium)(
    'draws the lanes, batches, install marks and runs the timeline endpoint answers, then a submission page',
    async () => {
      const shots = mkdtempSync(join(tmpdir(), 'qgjob-timeline-'));
      store = await pgliteAdapter.open();
      server = await startServer({
        db: store.db,
        port: 0,
        host: '127.0.0.1',
        trendIntervalMs: 1_000,
        publicUrl: 'https://qgjob.example.com',
      });
      const client = new QgjobClient({ server: server.url });
      const tests = (names: string[]) => names.map((n) => `tests/${n}.spec.js`);
      const acme = await client.submit({
        org_id: 'acme',
        app_version_id: 'v1',
        tests: tests(['onboarding', 'login', 'checkout', 'search']),
      });
      expect(acme.url).toBe(`https://qgjob.example.com/submissions/${acme.submission_id}`);
      await client.submit({ org_id: 'acme', app_version_id: 'v2', tests: tests(['login', 'search']) });
      await client.submit({ org_id: 'globex', app_version_id: 'g1', tests: tests(['login', 'settings', 'profile']) });
      agent = await startSimAgent(server.url, {
        name: 'lab-1',
        devices: ['emulator:emulator-5554', 'emulator:emulator-5556'],
        testMs: 150,
        installMs: 250,
        fail: 'checkout',
      });
      await until(async () => {
        const { jobs } = await client.listJobs({ limit: 100 });
        return jobs.length === 9 && jobs.every((j) => ['passed', 'failed'].includes(j.status));
      }, 60_000);

      const { page, problems } = await openPage();
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#timeline .lane[data-device]');
      const answer = (await (await fetch(`${server.url}/v1/timeline?window=1h`)).json()) as Timeline;
      // Every group ran, each batch installed its build once (three groups, two devices).
      const batches = answer.lanes.flatMap((l) => l.batches);
      expect(new Set(batches.map((b) => `${b.org_id}/${b.app_version_id}`))).toEqual(
        new Set(['acme/v1', 'acme/v2', 'globex/g1']),
      );
      expect(batches.reduce((n, b) => n + b.runs.length, 0)).toBe(9);
      // The page draws what the endpoint answers.
      await until(async () => (await page.locator('#timeline .bar').count()) === batches.length, 20_000);
      expect(await page.locator('#timeline .lane[data-device]').count()).toBe(2);
      for (const lane of answer.lanes) {
        const row = page.locator(`#timeline .lane[data-device="${lane.device}"]`);
        expect(await row.locator('.bar').count()).toBe(lane.batches.length);
        for (const b of lane.batches) {
          const bar = row.locator(`.bar[data-batch="${b.id}"]`);
          expect(await bar.getAttribute('data-org')).toBe(b.org_id);
          expect(await bar.getAttribute('data-install')).toBe(String(b.install));
          expect(await bar.locator('.install').count()).toBe(b.install ? 1 : 0);
          expect(await bar.locator('.label').textContent()).toBe(b.app_version_id);
          expect(await bar.locator('.tick').count()).toBe(b.runs.length);
          expect(await bar.locator('.tick[data-status="failed"]').count()).toBe(
            b.runs.filter((r) => r.status === 'failed').length,
          );
        }
      }
      expect(await page.locator('#timeline .bar .install').count()).toBe(batches.filter((b) => b.install).length);
      expect(await page.locator('#timeline .tick[data-status="failed"]').count()).toBe(1);
      // Hover a run: its test, job and duration.
      // (Dispatched: the lanes are redrawn each second, and a real pointer would chase them.)
      await page.locator('#timeline .tick[data-status="failed"]').dispatchEvent('mouseover');
      expect(await page.locator('#tip').isVisible()).toBe(true);
      expect(await page.locator('#tip').textContent()).toMatch(/tests\/checkout\.spec\.js: failed\njob \S+\ntook /);
      // The keyboard reaches the bars, and a focused bar shows its details.
      await page.locator('#timeline .bar').first().focus();
      expect(await page.locator('#tip').textContent()).toMatch(/^(acme|globex) \/ \S+: \d tests?/);
      // Trends: the farm is sampled once a second here (a minute by default).
      await page.waitForSelector('#trends .trend-row[data-target="emulator"]', { timeout: 40_000 });
      expect(await page.locator('#trends .trend-row[data-target="emulator"] svg polyline').count()).toBe(5);
      await page.screenshot({ path: join(shots, 'timeline.png'), fullPage: true });
      if (process.env.QGJOB_UPDATE_SCREENSHOT === '1') {
        await page.locator('#h-timeline').scrollIntoViewIfNeeded();
        await page.screenshot({ path: docs('timeline.png'), fullPage: true });
      }
      // The window selector reads the endpoint again with the window asked.
      await page.locator('.windows button[data-window="15m"]').click();
      await page.waitForSelector('#timeline[data-window="15m"]');
      expect(await page.locator('.windows button[data-window="15m"]').getAttribute('aria-pressed')).toBe('true');

      // The submission's page: failures first, with message and place; every test and run.
      const runs = (await (
        await fetch(`${server.url}/v1/submissions/${acme.submission_id}/runs`)
      ).json()) as SubmissionRuns;
      await page.goto(`${server.url}/submissions/${acme.submission_id}`);
      await page.waitForFunction('document.body.dataset.updated !== undefined');
      expect(await page.locator('#sub-title').textContent()).toBe(`Submission ${acme.submission_id}`);
      expect(await page.locator('#failures .failure').count()).toBe(1);
      expect(await page.locator('#failures .failure strong').textContent()).toBe('tests/checkout.spec.js');
      expect(await page.locator('#failures .failure .message').textContent()).toBe(runs.jobs[0]?.runs[0]?.error);
      expect(await page.locator('#tests tbody tr').count()).toBe(4);
      expect(await page.locator('#tests tbody tr').first().getAttribute('data-status')).toBe('failed');
      expect(await page.locator('#timeline .run').count()).toBe(4);
      expect(await page.locator('#sub-totals [data-status="passed"] .n').textContent()).toBe('3');
      // Its log opens in the side panel.
      await page.locator('#failures .failure button.log').click();
      await page.waitForSelector('#log-panel:not([hidden])');
      await page.locator('#log-close').click();
      await page.screenshot({ path: join(shots, 'submission.png'), fullPage: true });
      if (process.env.QGJOB_UPDATE_SCREENSHOT === '1') {
        await page.screenshot({ path: docs('submission.png'), fullPage: true });
      }
      // Readable in the dark: the page follows the system's colour scheme.
      await page.emulateMedia({ colorScheme: 'dark' });
      const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
      expect(background).toBe('rgb(18, 21, 28)');
      expect(problems).toEqual([]);
      console.log(`timeline: ${batches.length} batches on 2 devices; screenshots in ${shots}`);
    },
    120_000,
  );
});
