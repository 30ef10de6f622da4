/**
 * BrowserStack end to end, against a local stand-in of its upload, plan and WebDriver
 * APIs: one build uploaded once for every agent, the account's parallel limit held
 * across agents, every session given the same bs:// app.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { type BrowserStackStandin, startBrowserStackStandin } from '../helpers/browserstack-standin.js';
import { adapters } from '../helpers/db.js';
import { waitForJobs } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SESSION = fileURLToPath(new URL('../fixtures/bs-session.mjs', import.meta.url));

describe.each(adapters)('BrowserStack through a stand-in on $name', (adapter) => {
  let server: TestServer;
  let standin: BrowserStackStandin;
  const agents: RunningAgent[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await server.close();
    await standin.close();
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('30 jobs over 3 parallel sessions: one upload, never more than 3 sessions at once, the same bs:// everywhere', async () => {
    server = await startTestServer({ adapter });
    standin = await startBrowserStackStandin({ parallelLimit: 3, uploadDelayMs: 300 });
    const client = new QgjobClient({ server: server.url });
    const apk = Buffer.from('a build of the app under test '.repeat(4000));
    const sha256 = createHash('sha256').update(apk).digest('hex');
    await client.putBlob(sha256, apk, { org_id: 'acme', kind: 'app' });
    await client.registerApp({ org_id: 'acme', app_version_id: 'v42', sha256, filename: 'app-release.apk' });

    // Two hosts, three slots each: six slots, but the account allows three sessions.
    const credentials = { username: standin.username, accessKey: standin.accessKey };
    for (const host of ['bs-host-a', 'bs-host-b']) {
      const cacheDir = await mkdtemp(join(tmpdir(), 'qgjob-bs-cache-'));
      const workdir = await mkdtemp(join(tmpdir(), 'qgjob-bs-work-'));
      dirs.push(cacheDir, workdir);
      const agent = startAgent({
        server: server.url,
        name: host,
        devices: ['browserstack:s1', 'browserstack:s2', 'browserstack:s3'].map(parseDevice),
        executor: 'command',
        // The fixture opens a WebDriver session with appium:app = QGJOB_APP_PATH and holds it.
        command: `BROWSERSTACK_USERNAME=${credentials.username} BROWSERSTACK_ACCESS_KEY=${credentials.accessKey} QGJOB_BS_HUB=${standin.url}/wd/hub node ${SESSION} 150`,
        workdir,
        cacheDir,
        browserstackApi: standin.url,
        browserstackCredentials: credentials,
        logger: createLogger({ level: 'warn' }),
      });
      agents.push(agent);
      await agent.ready;
    }

    const submitted = await client.submit({
      org_id: 'acme',
      app_version_id: 'v42',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `tests/flow-${i}.spec.js`),
    });
    const ids = submitted.jobs.map((j) => j.id);
    const jobs = await waitForJobs(client, ids);
    expect(jobs.map((j) => j.status)).toEqual(Array(30).fill('passed'));

    // Exactly one upload, of exactly the registered bytes, under the build's own file name.
    console.info(
      `browserstack: ${standin.sessions.total} sessions, at most ${standin.sessions.maxConcurrent} at once, ${standin.sessions.refused} refused, ${standin.uploads.length} upload(s)`,
    );
    expect(standin.uploads).toHaveLength(1);
    expect(standin.uploads[0]).toMatchObject({ sha256, size: apk.length, filename: 'app-release.apk' });
    const appUrl = standin.uploads[0]?.appUrl;
    // The account's limit held across both hosts; the hub refused nothing.
    expect(standin.sessions.total).toBe(30);
    expect(standin.sessions.refused).toBe(0);
    expect(standin.sessions.maxConcurrent).toBeLessThanOrEqual(3);
    // Every session asked for the one uploaded app, and the server keeps its URL.
    expect(new Set(standin.sessions.apps)).toEqual(new Set([appUrl]));
    expect((await client.getApp({ org_id: 'acme', app_version_id: 'v42' })).browserstack).toEqual([
      { account: standin.username, url: appUrl, uploaded_at: expect.any(String) },
    ]);
    const logs = await client.getLogs(ids[0] as string);
    expect(logs.chunks.map((c) => c.text).join('')).toContain(`app ${appUrl}`);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^qgjob_browserstack_uploads_total 1$/m);
    // Runs on the server side never overlapped more than three at a time either.
    const spans = jobs.flatMap((j) =>
      j.runs.map((r) => ({ from: Date.parse(r.started_at ?? ''), to: Date.parse(r.finished_at ?? '') })),
    );
    const peak = Math.max(...spans.map((s) => spans.filter((o) => o.from <= s.from && s.from < o.to).length));
    expect(peak).toBeLessThanOrEqual(3);
  });
});
