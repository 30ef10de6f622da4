/**
 * The dashboard in a real browser (Debian's headless Chromium, driven by playwright-core)
 * against a real job-server and a simulated agent: the page follows the farm live, without
 * reloading, opens a failed run's log and saves the files a run left. Skipped when
 * /usr/bin/chromium is missing.
 *
 * Screenshots go to a temporary folder (printed). With QGJOB_UPDATE_SCREENSHOT=1 the
 * mid-run one also replaces docs/dashboard.png.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import { type RunningServer, startServer } from '@qgjob/server';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { type Browser, chromiumOrWarn, openBrowser } from '../helpers/browser.js';
import { pgliteAdapter, type TestDb } from '../helpers/db.js';
import { startRun } from '../helpers/runs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const hasChromium = chromiumOrWarn('dashboard browser test');
const DOCS_SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? '';
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dashboard in a browser', () => {
  let server: TestServer | RunningServer | undefined;
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
    browser = await openBrowser({ width: 1280, height: 800 });
    return browser;
  }

  it.skipIf(!hasChromium)(
    'follows the farm live: the queue fills, drains as devices work, runs appear, and a failed run shows its log',
    async () => {
      const shots = mkdtempSync(join(tmpdir(), 'qgjob-dashboard-'));
      server = await startTestServer();
      const url = server.url;
      const { page, problems } = await openPage();
      const text = (selector: string) => textOf(page, selector);
      const total = async (key: string) => Number(await text(`#total-${key} .n`));

      const opened = performance.now();
      await page.goto(`${url}/`);
      // Set by the page each time it draws an overview. (Page code as strings: no DOM types here.)
      await page.waitForFunction('document.body.dataset.updated !== undefined');
      const firstOverviewMs = performance.now() - opened;
      await page.waitForSelector('#conn[data-state="live"]');
      const liveMs = performance.now() - opened;
      // Open server: no token field.
      expect(await page.locator('#auth').isHidden()).toBe(true);
      // Any reload or navigation would drop this.
      await page.evaluate('window.stayed = true');
      expect(await total('queued')).toBe(0);

      const client = new QgjobClient({ server: url });
      const tests = (names: string[]) => names.map((n) => `tests/${n}.spec.js`);
      await client.submit({
        org_id: 'acme',
        app_version_id: 'v1',
        tests: tests(['onboarding', 'login', 'checkout', 'search', 'settings', 'profile']),
      });
      await client.submit({ org_id: 'acme', app_version_id: 'v2', tests: tests(['login', 'checkout', 'search']) });
      await client.submit({ org_id: 'globex', app_version_id: 'g1', tests: tests(['login', 'search', 'settings']) });
      await client.submit({ org_id: 'globex', app_version_id: 'g2', tests: tests(['login', 'search', 'profile']) });
      await until('15 queued on the page', async () => (await total('queued')) === 15);
      expect(await page.locator('#queues tbody tr').count()).toBe(4);
      expect(await text('#queues tbody tr[data-group="acme/v1/emulator"] .depth')).toBe('6');
      await page.screenshot({ path: join(shots, '1-queued.png') });

      agent = await startSimAgent(url, {
        name: 'lab-1',
        devices: ['emulator:emulator-5554', 'emulator:emulator-5556'],
        testMs: 400,
        fail: 'checkout',
      });
      // The queue drains while the page watches: the count only ever falls.
      const seen: number[] = [15];
      await until('runs finishing while work is left', async () => {
        const queued = await total('queued');
        if (queued !== seen.at(-1)) seen.push(queued);
        return queued === 0 || (await total('passed')) + (await total('failed')) >= 6;
      });
      await page.screenshot({ path: join(shots, '2-running.png') });
      if (process.env.QGJOB_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: DOCS_SCREENSHOT });
      await until('every job finished', async () => {
        const queued = await total('queued');
        if (queued !== seen.at(-1)) seen.push(queued);
        return (await total('passed')) + (await total('failed')) === 15;
      });
      expect(seen.every((n, i) => i === 0 || n < (seen[i - 1] ?? 0))).toBe(true);
      expect(seen.at(-1)).toBe(0);
      expect(await total('failed')).toBe(2);
      expect(await total('running')).toBe(0);
      expect(await page.locator('#queues-empty').isVisible()).toBe(true);
      expect(await page.locator('#runs tbody tr').count()).toBe(15);
      expect(await page.locator('#runs tbody tr[data-status="failed"]').count()).toBe(2);
      expect(await page.locator('#runs tbody tr[data-status="passed"]').count()).toBe(13);
      // Four groups on two devices: each group installed once.
      expect(await text('#installs-made .n')).toBe('4');
      expect(await text('#installs-avoided .n')).toBe('11');
      const devices = page.locator('#agents tr[data-device]');
      expect(await devices.count()).toBe(2);
      expect(await page.locator('#agents tr[data-state="idle"]').count()).toBe(2);
      expect(await page.locator('#agents [data-agent="lab-1"] .chip').count()).toBeGreaterThanOrEqual(2);
      await page.screenshot({ path: join(shots, '3-done.png') });

      // The failed run's log, in the panel.
      const failed = page.locator('#runs tbody tr[data-status="failed"]').first();
      const runId = await failed.getAttribute('data-run');
      await failed.locator('button.log').click();
      await page.waitForSelector('#log-panel:not([hidden])');
      await until('the log panel to load', async () => (await text('#log-body')) !== 'loading…');
      const logged = await text('#log-body');
      expect(await text('#log-title')).toMatch(/checkout\.spec\.js · run 1 · failed/);
      const jobId = (await client.listJobs({ status: 'failed' })).jobs.find((j) =>
        j.test_path.includes('checkout'),
      )?.id;
      const logs = await fetch(`${url}/v1/jobs/${jobId}/logs`);
      if (logs.status === 200) {
        // Once the logs endpoint exists: the panel shows the run's text.
        expect(logged).not.toBe('no log');
        expect(logged.length).toBeGreaterThan(0);
      } else {
        expect(logs.status).toBe(404);
        expect(logged).toBe('no log');
      }
      expect(await page.locator('#log-panel').getAttribute('data-run')).toBe(runId);
      await page.screenshot({ path: join(shots, '4-log.png') });
      await page.keyboard.press('Escape');
      expect(await page.locator('#log-panel').isHidden()).toBe(true);

      expect(await page.evaluate('window.stayed')).toBe(true);
      expect(problems).toEqual([]);
      console.log(
        `dashboard: first overview drawn ${Math.round(firstOverviewMs)} ms after navigation, stream live at ${Math.round(liveMs)} ms; queued on the page: ${seen.join(' → ')}; screenshots in ${shots}`,
      );
    },
    60_000,
  );

  it.skipIf(!hasChromium)(
    'asks for a token when the server needs one, refuses an agent token, and shows an org only its own farm',
    async () => {
      const ADMIN = 'admin-secret-for-tests-0123456789';
      store = await pgliteAdapter.open();
      server = await startServer({
        db: store.db,
        port: 0,
        host: '127.0.0.1',
        auth: { mode: 'tokens', adminToken: ADMIN },
      });
      const url = server.url;
      const admin = new QgjobClient({ server: url, token: ADMIN });
      const make = (body: object) =>
        admin.request<{ token: string }>('/v1/tokens', { method: 'POST', body }).then((t) => t.token);
      const orgToken = await make({ kind: 'org', org_id: 'org-a', name: 'a-dash' });
      const agentToken = await make({ kind: 'agent', name: 'lab' });
      await admin.submit({ org_id: 'org-a', app_version_id: 'a1', tests: ['t/1.js', 't/2.js'] });
      await admin.submit({ org_id: 'org-b', app_version_id: 'b1', tests: ['t/1.js', 't/2.js', 't/3.js'] });

      const { page, problems } = await openPage();
      const urls: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      await page.goto(`${url}/`);
      await page.waitForSelector('#auth:not([hidden])');
      expect(await page.locator('#conn').getAttribute('data-state')).toBe('down');

      await page.fill('#token', agentToken);
      await page.click('#auth button[type="submit"]');
      await until('the agent token refused', async () => /cannot watch/.test(await textOf(page, '#auth-msg')));

      await page.fill('#token', orgToken);
      await page.click('#auth button[type="submit"]');
      await page.waitForSelector('#conn[data-state="live"]');
      await until('org-a queue', async () => (await textOf(page, '#total-queued .n')) === '2');
      expect(await page.locator('#queues tbody tr').count()).toBe(1);
      expect(await textOf(page, '#queues tbody')).not.toContain('org-b');
      // Kept for this tab: a reload goes straight back to the farm.
      await page.reload();
      await page.waitForSelector('#conn[data-state="live"]');
      expect(await textOf(page, '#total-queued .n')).toBe('2');
      // The token travelled in headers only, never in a URL.
      expect(urls.length).toBeGreaterThan(4);
      expect(urls.filter((u) => u.includes(orgToken) || u.includes(agentToken))).toEqual([]);
      expect(problems).toEqual([]);
    },
    60_000,
  );

  it.skipIf(!hasChromium)(
    "lists the files a run left and saves one with the page's token",
    async () => {
      const ADMIN = 'admin-secret-for-tests-0123456789';
      store = await pgliteAdapter.open();
      const running = await startServer({
        db: store.db,
        port: 0,
        host: '127.0.0.1',
        auth: { mode: 'tokens', adminToken: ADMIN },
      });
      server = running;
      const admin = new QgjobClient({ server: running.url, token: ADMIN });
      const orgToken = (
        await admin.request<{ token: string }>('/v1/tokens', {
          method: 'POST',
          body: { kind: 'org', org_id: 'org-a', name: 'dash' },
        })
      ).token;
      const jobId = (await admin.submit({ org_id: 'org-a', app_version_id: 'a1', tests: ['t/login.js'] })).jobs[0]
        ?.id as string;
      const batch = await startRun(running.app, jobId);
      const shot = Buffer.from('\x89PNG screenshot of the failure');
      await admin.putRunArtifact(batch.id, jobId, 'login/test-failed-1.png', shot, 'image/png');
      await admin.putRunArtifact(batch.id, jobId, 'login/trace.zip', Buffer.from('PK trace'), 'application/zip');

      const { page, problems } = await openPage();
      await page.goto(`${running.url}/`);
      await page.waitForSelector('#auth:not([hidden])');
      await page.fill('#token', orgToken);
      await page.click('#auth button[type="submit"]');
      await page.waitForSelector('#runs button.files');
      expect(await textOf(page, '#runs button.files')).toBe('2 files');
      await page.click('#runs button.files');
      await page.waitForSelector('#log-body a.artifact');
      expect(await textOf(page, '#log-title')).toMatch(/t\/login\.js · run 1 · files/);
      const links = page.locator('#log-body a.artifact');
      expect(await links.allTextContents()).toEqual(['login/test-failed-1.png', 'login/trace.zip']);
      expect(await links.first().getAttribute('href')).toBe(
        `/v1/jobs/${jobId}/runs/1/artifacts/login/test-failed-1.png`,
      );
      const [download] = await Promise.all([page.waitForEvent('download'), links.first().click()]);
      expect(download.suggestedFilename()).toBe('test-failed-1.png');
      expect(readFileSync(await download.path()).equals(shot)).toBe(true);
      expect(problems).toEqual([]);
    },
    60_000,
  );
  it.skipIf(!hasChromium)(
    'shows quarantined, draining and drained devices, until when a quarantine lasts, and counts them',
    async () => {
      server = await startTestServer({ scheduler: { health: { quarantineAfter: 1, coolDownMs: 60_000 } } });
      const client = new QgjobClient({ server: server.url });
      const { devices } = await client.registerAgent({
        name: 'lab-9',
        devices: [
          { name: 'e1', target: 'emulator' },
          { name: 'e2', target: 'emulator' },
          { name: 'e3', target: 'emulator' },
          { name: 'p1', target: 'device' },
        ],
      });
      const [e1, e2, , p1] = devices.map((d) => d.id);
      await client.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'tests/a.spec.js' });
      const running = (await client.claim(e1 as string, 0)).batch;
      await client.report(running?.id as string, {
        events: [{ type: 'start', job_id: running?.jobs[0]?.id as string }],
      });
      await client.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'tests/b.spec.js', target: 'device' });
      const failing = (await client.claim(p1 as string, 0)).batch;
      await client.report(failing?.id as string, { events: [{ type: 'unavailable', error: 'adb: device offline' }] });
      await client.setDrained({ device: e1 as string }, true);
      await client.setDrained({ device: e2 as string }, true);

      const { page, problems } = await openPage();
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#agents tr[data-device="p1"]');
      const row = (name: string) => page.locator(`#agents tr[data-device="${name}"]`);
      expect(await row('e1').getAttribute('data-state')).toBe('draining');
      expect(await row('e2').getAttribute('data-state')).toBe('drained');
      expect(await row('p1').getAttribute('data-state')).toBe('quarantined');
      expect(await row('e1').locator('.badge.s-draining').count()).toBe(1);
      expect(await row('e2').locator('.badge.s-drained').count()).toBe(1);
      expect(await row('p1').locator('.badge.s-quarantined').count()).toBe(1);
      expect(await textOf(page, '#agents tr[data-device="p1"] .dev-note')).toMatch(/^until \d\d:\d\d:\d\d, 1 failure$/);
      // The new states are counted only when some device is in them.
      expect(await textOf(page, '#device-sum')).toMatch(
        /^4 devices: 0 busy, [01] idle, [01] offline, 1 quarantined, 1 draining, 1 drained$/,
      );
      // Each state has a colour of its own.
      const colours = await page.evaluate(
        `[...document.querySelectorAll('#agents .badge')].map((b) => getComputedStyle(b).backgroundColor + '|' + getComputedStyle(b).color)`,
      );
      expect(new Set(colours as string[]).size).toBe(4);
      expect(problems).toEqual([]);
    },
    60_000,
  );
});
