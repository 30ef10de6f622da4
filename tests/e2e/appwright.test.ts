/**
 * Real AppWright 0.1.1 and real @playwright/test 1.59 run the example specs through
 * `qgjob-agent --executor=appwright`, against the local Android stand-in
 * (tests/fixtures/uia2: a fake adb and SDK, and an Appium server that decides installs
 * and resets as UiAutomator2 does, counted per device). Shown here:
 * - a batch of one app version installs it once on the device, whatever AppWright asks;
 * - every session goes to the leased device, also when adb lists it second;
 * - a failed assertion is `failed` with its message and line; a device on which no session
 *   can be created is `errored` and the job passes on another agent's device.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import type { Job } from '@qgjob/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { createHost, readEvents, setDeviceState, writePretendApk } from '../fixtures/uia2/host.mjs';
import { runCli } from '../helpers/cli.js';
import { until, waitForJobs } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const root = new URL('../..', import.meta.url).pathname;
const standin = join(root, 'tests/fixtures/uia2');
const shopApp = JSON.parse(await readFile(join(standin, 'shop-app.json'), 'utf8')) as Record<string, unknown>;

const failing = `import { expect, test } from 'appwright';

test('the cart shows the item count', async ({ device }) => {
  await device.getByText('Get started').tap();
  await device.getByText('Allow notifications').tap();
  const count = await device.getById('com.example.shop:id/cart_count', { exact: true }).getText();
  expect(count).toBe('3 items');
});
`;

let dir: string;
let project: string;
let host: Awaited<ReturnType<typeof createHost>>;
const saved = { ...process.env };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qgjob-appwright-e2e-'));
  // A copy of examples/ as a user has it, with this repository's node_modules (the same
  // pinned appwright and @playwright/test) and the pretend build where --app-path says.
  project = join(dir, 'project');
  await mkdir(join(project, 'builds'), { recursive: true });
  await cp(join(root, 'examples/tests'), join(project, 'tests'), { recursive: true });
  await cp(join(root, 'examples/appwright.config.ts'), join(project, 'appwright.config.ts'));
  await cp(join(root, 'examples/package.json'), join(project, 'package.json'));
  await writeFile(join(project, 'tests/cart-count.spec.js'), failing);
  await symlink(join(root, 'node_modules'), join(project, 'node_modules'));
  await writePretendApk(join(project, 'builds/v1.apk'), shopApp);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('real AppWright through qgjob-agent', () => {
  let server: TestServer;
  const agents: RunningAgent[] = [];

  async function setUp(serials: string[]) {
    const devices = serials.map((serial) => ({
      serial,
      state: 'device' as const,
      platformVersion: '14',
      avd: `avd_${serial}`,
    }));
    host = await createHost(await mkdtemp(join(dir, 'host-')), devices);
    Object.assign(process.env, host.env, { FAKE_ANDROID_DEVICE_WAIT_MS: '300' });
    server = await startTestServer({ scheduler: { retryBaseMs: 50 } });
    return new QgjobClient({ server: server.url });
  }

  async function agent(name: string, serial: string): Promise<RunningAgent> {
    const running = startAgent({
      server: server.url,
      name,
      devices: [parseDevice(`emulator:${serial}`)],
      executor: 'appwright',
      workdir: project,
      appiumCommand: `node ${join(standin, 'appium.mjs')}`,
      testTimeoutMs: 120_000,
      graceMs: 2000,
      cacheDir: join(dir, `cache-${name}`),
      logger: createLogger({ level: (process.env.QGJOB_AGENT_LOG as 'info' | undefined) ?? 'warn' }),
    });
    agents.push(running);
    await running.ready;
    return running;
  }

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await server.close();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('runs a batch of 4 spec files on one device with one install, and a failed assertion is failed at its line', async () => {
    const client = await setUp(['emulator-5554']);
    const { jobs } = await client.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['tests/onboarding.spec.js', 'tests/login.spec.js', 'tests/checkout.spec.js', 'tests/search.spec.js'],
    });
    await agent('host-a', 'emulator-5554');
    const done = await waitForJobs(
      client,
      jobs.map((j) => j.id),
      150_000,
    );
    expect(done.map((j) => [j.test_path, j.status, j.runs[0]?.error ?? null])).toEqual([
      ['tests/onboarding.spec.js', 'passed', null],
      ['tests/login.spec.js', 'passed', null],
      ['tests/checkout.spec.js', 'passed', null],
      ['tests/search.spec.js', 'passed', null],
    ]);
    const events = await readEvents(host.stateDir);
    const installs = events.filter((e) => e.t === 'install' && e.device === 'emulator-5554');
    const sessions = events.filter((e) => e.t === 'session');
    console.log(
      `4 spec files (5 tests) on emulator-5554: ${installs.length} install(s) counted at the device, ${sessions.length} sessions, ${events.filter((e) => e.t === 'clear').length} app data clears`,
    );
    // Once, by the agent's adb install; UiAutomator2 kept it for every session.
    expect(installs.map((e) => e.by)).toEqual(['adb']);
    expect(events.filter((e) => e.t === 'uninstall')).toEqual([]);
    expect(sessions).toHaveLength(5);
    // Each test starts from a fresh app: its data cleared before every session.
    expect(events.filter((e) => e.t === 'clear')).toHaveLength(5);
    // qgjob agrees: one run marked as the one whose batch installed the app.
    const installing = done.filter((j) => j.runs.some((r) => r.app_installed));
    expect(installing).toHaveLength(1);
    const status = await runCli(['status', `--job-id=${installing[0]?.id}`, '--json', `--server=${server.url}`]);
    expect(JSON.parse(status.stdout).runs[0].app_installed).toBe(true);

    const [bad] = (await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['tests/cart-count.spec.js'] }))
      .jobs;
    const [failed] = await waitForJobs(client, [bad?.id as string], 60_000);
    expect(failed?.status).toBe('failed');
    expect(failed?.runs).toHaveLength(1);
    expect(failed?.runs[0]?.error).toMatch(/^Error: expect\(received\)\.toBe\(expected\)/);
    expect(failed?.runs[0]?.error).toContain('Expected: "3 items"\nReceived: "0 items"');
    expect(failed?.runs[0]?.error).toMatch(/\n {4}at tests\/cart-count\.spec\.js:7:\d+$/);
    const human = await runCli(['status', `--job-id=${bad?.id}`, `--server=${server.url}`]);
    expect(human.stdout + human.stderr).toContain('tests/cart-count.spec.js:7');
    // What Playwright left for the failed test is kept with its run and downloadable.
    const names = (failed?.runs[0]?.artifacts ?? []).map((a) => a.name);
    expect(names.some((n) => n.endsWith('error-context.md'))).toBe(true);
    const out = join(dir, 'downloaded');
    const fetched = await runCli([
      'artifacts',
      `--job-id=${bad?.id}`,
      `--dir=${out}`,
      '--json',
      `--server=${server.url}`,
    ]);
    expect(fetched.code).toBe(0);
    const files = JSON.parse(fetched.stdout).files as Array<{ name: string; path: string }>;
    expect(files.map((f) => f.name)).toEqual(names);
    const context = files.find((f) => f.name.endsWith('error-context.md'));
    expect(await readFile(context?.path as string, 'utf8')).toContain('3 items');
  }, 240_000);

  it('sends every session to the leased device, though adb lists another first', async () => {
    const client = await setUp(['emulator-5554', 'emulator-5556']);
    await agent('host-b', 'emulator-5556');
    const { jobs } = await client.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['tests/onboarding.spec.js', 'tests/login.spec.js'],
    });
    const done = await waitForJobs(
      client,
      jobs.map((j) => j.id),
      120_000,
    );
    expect(done.map((j: Job) => j.status)).toEqual(['passed', 'passed']);
    const events = await readEvents(host.stateDir);
    const udids = events.filter((e) => e.t === 'session').map((e) => e.udid);
    expect(udids).toEqual(['emulator-5556', 'emulator-5556', 'emulator-5556']);
    expect(events.filter((e) => e.device === 'emulator-5554')).toEqual([]);
  }, 240_000);

  it('errors a job whose device takes no session, and passes it on another agent’s device', async () => {
    const client = await setUp(['emulator-5554', 'emulator-5556']);
    await setDeviceState(host.stateDir, 'emulator-5554', { sessionError: true });
    const broken = await agent('broken', 'emulator-5554');
    const [job] = (await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['tests/onboarding.spec.js'] }))
      .jobs;
    const first = await firstErrored(client, job?.id as string);
    expect(first.runs[0]?.device).toBe('emulator-5554');
    expect(first.runs[0]?.error).toMatch(
      /^AppWright's device fixture failed, so the test never ran: Error: Failed to create session\..*instrumentation process cannot be initialized/s,
    );
    // The broken host goes away, so the retry cannot land on it again.
    await broken.stop();
    await agent('healthy', 'emulator-5556');
    const [done] = await waitForJobs(client, [job?.id as string], 90_000);
    expect(done?.status).toBe('passed');
    const passed = done?.runs.find((r) => r.status === 'passed');
    expect(passed?.device).toBe('emulator-5556');
  }, 240_000);

  it("runs no test on a device adb does not see: errored with adb's words", async () => {
    const client = await setUp(['emulator-5554']);
    await agent('missing', 'emulator-5560');
    const [job] = (await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['tests/onboarding.spec.js'] }))
      .jobs;
    const errored = await firstErrored(client, job?.id as string);
    expect(errored.runs[0]?.error).toBe(
      "emulator-5560 not ready: device emulator-5560 is not available (adb -s emulator-5560 get-state: error: device 'emulator-5560' not found)",
    );
    // Nothing was installed, and qgjob does not say otherwise.
    expect(errored.runs[0]?.app_installed).toBe(false);
    expect(await readEvents(host.stateDir)).toEqual([]);
  });
});

/** The job once its first run has errored. */
function firstErrored(client: QgjobClient, id: string): Promise<Job> {
  return until(async () => {
    const job = await client.getJob(id);
    return job.runs[0]?.status === 'errored' ? job : undefined;
  }, 60_000);
}
