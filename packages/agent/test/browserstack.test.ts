/**
 * The BrowserStack App Automate client against the local BrowserStack stand-in (plan, upload,
 * refused credentials, odd answers), and the bs-session fixture opening and closing hub sessions
 * within the parallel limit.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserStackStandin, startBrowserStackStandin } from '../../../tests/helpers/browserstack-standin.js';
import { BrowserStackApi, BrowserStackError, credentialsFromEnv } from '../src/browserstack.js';

const FIXTURE = fileURLToPath(new URL('../../../tests/fixtures/bs-session.mjs', import.meta.url));

let dir: string;
let standins: BrowserStackStandin[] = [];
let servers: Server[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qgjob-bs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(standins.map((s) => s.close()));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  standins = [];
  servers = [];
});

async function standin(options: Parameters<typeof startBrowserStackStandin>[0] = {}) {
  const s = await startBrowserStackStandin(options);
  standins.push(s);
  return s;
}

const apiFor = (s: BrowserStackStandin, accessKey = s.accessKey, timeoutMs?: number) =>
  new BrowserStackApi({ apiUrl: s.url, credentials: { username: s.username, accessKey }, timeoutMs });

async function buildFile(name: string, size: number): Promise<{ path: string; sha256: string }> {
  const bytes = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A server that answers every request with one fixed reply. */
async function fixedServer(status: number, body: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function rejection(promise: Promise<unknown>): Promise<BrowserStackError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BrowserStackError);
  return err as BrowserStackError;
}

describe('credentialsFromEnv', () => {
  it('needs both BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY', () => {
    expect(credentialsFromEnv({ BROWSERSTACK_USERNAME: 'u', BROWSERSTACK_ACCESS_KEY: 'k' })).toEqual({
      username: 'u',
      accessKey: 'k',
    });
    expect(credentialsFromEnv({ BROWSERSTACK_USERNAME: 'u' })).toBeUndefined();
    expect(credentialsFromEnv({ BROWSERSTACK_USERNAME: 'u', BROWSERSTACK_ACCESS_KEY: '' })).toBeUndefined();
    expect(credentialsFromEnv({ BROWSERSTACK_USERNAME: ' ', BROWSERSTACK_ACCESS_KEY: 'k' })).toBeUndefined();
    expect(credentialsFromEnv({})).toBeUndefined();
  });
});

describe('BrowserStackApi', () => {
  it('reads the parallel limit and running sessions from plan.json', async () => {
    const s = await standin({ parallelLimit: 3 });
    expect(await apiFor(s).plan()).toEqual({ parallelLimit: 3, running: 0, plan: 'App Automate' });
  });

  it('uploads a build as multipart `file` and returns the bs:// app_url', async () => {
    const s = await standin();
    const build = await buildFile('app-release.apk', 3 * 1024 * 1024 + 17);
    const appUrl = await apiFor(s).uploadApp(build.path);
    expect(appUrl).toMatch(/^bs:\/\/[0-9a-f]{40}$/);
    expect(s.uploads).toEqual([
      { appUrl, sha256: build.sha256, size: 3 * 1024 * 1024 + 17, filename: 'app-release.apk' },
    ]);
  });

  it('sends custom_id, and each upload gets its own app_url', async () => {
    const s = await standin();
    const build = await buildFile('small.apk', 1000);
    const api = apiFor(s);
    const [a, b] = await Promise.all([api.uploadApp(build.path, { customId: 'MyApp_v1' }), api.uploadApp(build.path)]);
    expect(a).not.toBe(b);
    expect(s.uploads.find((u) => u.appUrl === a)?.customId).toBe('MyApp_v1');
    expect(s.uploads.find((u) => u.appUrl === b)?.customId).toBeUndefined();
  });

  it('says the credentials were refused, without the access key, on 401', async () => {
    const s = await standin();
    const wrongKey = 'wrong-secret-key-7f3a9c';
    const build = await buildFile('refused.apk', 10);
    for (const call of [apiFor(s, wrongKey).plan(), apiFor(s, wrongKey).uploadApp(build.path)]) {
      const err = await rejection(call);
      expect(err.status).toBe(401);
      expect(err.message).toMatch(/credentials/);
      expect(err.message).toMatch(/BROWSERSTACK_USERNAME.*BROWSERSTACK_ACCESS_KEY/);
      expect(err.message).not.toContain(wrongKey);
      expect(String(err.stack)).not.toContain(wrongKey);
    }
    expect(s.uploads).toEqual([]);
  });

  it('rejects an answer without a bs:// app_url', async () => {
    const build = await buildFile('odd.apk', 10);
    const credentials = { username: 'u', accessKey: 'k-secret' };
    for (const body of ['{"app_url":"https://example.com/app.apk"}', '{"custom_id":"x"}', '{"app_url":"bs://"}']) {
      const api = new BrowserStackApi({ apiUrl: await fixedServer(200, body), credentials });
      const err = await rejection(api.uploadApp(build.path));
      expect(err.message).toMatch(/without a bs:\/\/ app_url/);
    }
  });

  it("includes BrowserStack's error text on other failures", async () => {
    const build = await buildFile('bad.apk', 10);
    const credentials = { username: 'u', accessKey: 'k-secret' };
    const apiUrl = await fixedServer(422, '{"error":"[BROWSERSTACK_INVALID_FILE] Invalid file type"}');
    const err = await rejection(new BrowserStackApi({ apiUrl, credentials }).uploadApp(build.path));
    expect(err.status).toBe(422);
    expect(err.message).toContain('[BROWSERSTACK_INVALID_FILE] Invalid file type');

    const echo = await fixedServer(500, '{"error":"no access for key k-secret"}');
    const masked = await rejection(new BrowserStackApi({ apiUrl: echo, credentials }).plan());
    expect(masked.message).toContain('no access for key ***');
    expect(masked.message).not.toContain('k-secret');
  });

  it('names the API URL when BrowserStack cannot be reached', async () => {
    const apiUrl = await fixedServer(200, '{}');
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const err = await rejection(
      new BrowserStackApi({ apiUrl, credentials: { username: 'u', accessKey: 'k-secret' } }).plan(),
    );
    expect(err.status).toBeUndefined();
    expect(err.message).toContain(apiUrl);
    expect(err.message).not.toContain('k-secret');
  });

  it('gives a big upload more time: a second per 256 KiB on top of the base timeout', async () => {
    const s = await standin({ uploadDelayMs: 1_000 });
    const build = await buildFile('big.apk', 1024 * 1024);
    // Base 200 ms, as the test above; 1 MiB adds 4 s, so the slow answer still arrives.
    expect(await apiFor(s, s.accessKey, 200).uploadApp(build.path)).toMatch(/^bs:\/\//);
  });

  it('times out a slow upload, and stops at once when the caller aborts', async () => {
    const s = await standin({ uploadDelayMs: 2_000 });
    const build = await buildFile('slow.apk', 10);
    const timedOut = await rejection(apiFor(s, s.accessKey, 200).uploadApp(build.path));
    expect(timedOut.message).toMatch(/timed out after 200 ms/);

    const reason = new Error('job cancelled');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 100);
    await expect(apiFor(s).uploadApp(build.path, { signal: controller.signal })).rejects.toBe(reason);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sessionEnv(s: BrowserStackStandin, app: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    QGJOB_APP_PATH: app,
    BROWSERSTACK_USERNAME: s.username,
    BROWSERSTACK_ACCESS_KEY: s.accessKey,
    QGJOB_BS_HUB: `${s.url}/wd/hub`,
    QGJOB_DEVICE: 'Google Pixel 8',
  };
}

function runFixture(s: BrowserStackStandin, app: string, holdMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FIXTURE, String(holdMs)], { env: sessionEnv(s, app) }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function uploaded(s: BrowserStackStandin): Promise<string> {
  const build = await buildFile(`b${randomBytes(4).toString('hex')}.apk`, 100);
  return apiFor(s).uploadApp(build.path);
}

describe('bs-session fixture on the stand-in hub', () => {
  it('opens a session with the uploaded app, then closes it', async () => {
    const s = await standin({ parallelLimit: 2 });
    const app = await uploaded(s);
    const run = await runFixture(s, app, 50);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^session [0-9a-f]{40} app ${app}\\n$`));
    expect(s.sessions).toEqual({ maxConcurrent: 1, total: 1, refused: 0, apps: [app] });
    expect((await apiFor(s).plan()).running).toBe(0);
  });

  it('is refused (exit 1) beyond the parallel limit', async () => {
    const s = await standin({ parallelLimit: 1 });
    const app = await uploaded(s);
    const holder: ChildProcess = spawn(process.execPath, [FIXTURE, '1500'], {
      env: sessionEnv(s, app),
      stdio: 'ignore',
    });
    const holderExit = new Promise<number | null>((resolve) => holder.on('exit', resolve));
    const deadline = Date.now() + 10_000;
    while ((await apiFor(s).plan()).running < 1) {
      if (Date.now() > deadline) throw new Error('the first session never opened');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    const second = await runFixture(s, app, 0);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/BrowserStack refused the session: HTTP 200: \[BROWSERSTACK_ALL_PARALLELS_IN_USE\]/);
    expect(second.stderr).not.toContain(s.accessKey);

    expect(await holderExit).toBe(0);
    expect(s.sessions).toMatchObject({ maxConcurrent: 1, total: 1, refused: 1 });
  });

  it('is refused (exit 1) for an app the account never uploaded', async () => {
    const s = await standin();
    const run = await runFixture(s, `bs://${'0'.repeat(40)}`, 0);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/BROWSERSTACK_INVALID_APP_CAP/);
    expect(s.sessions.total).toBe(0);
  });
});
