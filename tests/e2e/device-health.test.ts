/**
 * Broken and vanishing devices with real agents on a real job-server: a device whose installs
 * always fail (`--executor=command --install-command=false`), the same device among good ones,
 * an agent process killed with SIGKILL while it long-polls, and a drain.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import type { DeviceView, Job } from '@qgjob/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, startAgent } from '../../packages/agent/src/index.js';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { until, waitForJobs } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const AGENT_MAIN = fileURLToPath(new URL('../../packages/agent/src/main.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.tests.json', import.meta.url));

describe.each(adapters)('broken devices on $name', (adapter) => {
  let server: TestServer;
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
    await server.close();
  });

  /** An agent whose every install fails, as `--executor=command --command=true --install-command=false`. */
  const brokenAgent = async (name: string, device: string) => {
    const running = startAgent({
      server: server.url,
      name,
      devices: [parseDevice(device)],
      executor: 'command',
      command: 'true',
      installCommand: 'false',
      logger: createLogger({ level: 'warn' }),
    });
    await running.ready;
    stops.push(() => running.stop());
  };
  const sim = async (name: string, devices: string[], testMs: number) => {
    const agent: SimAgent = await startSimAgent(server.url, { name, devices, testMs });
    stops.push(() => agent.stop());
    return agent;
  };
  const batchesOf = async (deviceName: string) => {
    const { rows } = await server.store.db.query<{ n: number; jobs: number }>(
      `SELECT count(*)::int AS n, coalesce(sum(b.size), 0)::int AS jobs
         FROM batches b JOIN devices d ON d.id = b.device_id WHERE d.name = $1`,
      [deviceName],
    );
    return rows[0] as { n: number; jobs: number };
  };
  const device = async (client: QgjobClient, name: string): Promise<DeviceView | undefined> =>
    (await client.listAgents()).agents.flatMap((a) => a.devices).find((d) => d.name === name);

  it('errors the jobs of a lone broken device within seconds, naming the install', async () => {
    server = await startTestServer({ adapter, scheduler: { retryBaseMs: 500 } });
    const client = new QgjobClient({ server: server.url });
    await brokenAgent('broken', 'emulator:emulator-5554');
    const started = Date.now();
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['a.spec.js', 'b.spec.js'] });
    const done = await waitForJobs(
      client,
      jobs.map((j) => j.id),
      30_000,
    );
    const tookMs = Date.now() - started;
    const leased = await batchesOf('emulator-5554');
    console.log(`lone broken device: both jobs errored in ${tookMs} ms, ${leased.n} batches leased`);
    for (const job of done) {
      expect(job.status).toBe('errored');
      expect(job.error).toBe(
        'install failed on emulator-5554: install command exited with code 1; gave up after 3 infrastructure errors',
      );
      expect(job.runs.map((r) => [r.status, r.error])).toEqual(
        Array(3).fill(['errored', 'install failed on emulator-5554: install command exited with code 1']),
      );
    }
    expect(leased.n).toBeLessThanOrEqual(3);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^qgjob_app_installs_total 0$/m);
    expect(metrics).toMatch(new RegExp(`^qgjob_app_install_failures_total ${leased.n}$`, 'm'));
  }, 60_000);

  it('among good devices: every job passes, the broken one is quarantined after K batches, then probed once', async () => {
    const coolDownMs = 4_000;
    server = await startTestServer({
      adapter,
      scheduler: { retryBaseMs: 200, health: { quarantineAfter: 3, coolDownMs, maxCoolDownMs: 60_000 } },
    });
    const client = new QgjobClient({ server: server.url });
    await brokenAgent('broken', 'emulator:emulator-5554');
    await sim('good', ['emulator:g1', 'emulator:g2', 'emulator:g3'], 400);
    // Six groups of `size` jobs over four devices: the first wave lasts about 8 s, long enough
    // for the broken device to fail three batches (it rests about 1, then 2 s after each).
    const submitWave = async (wave: string, size: number) => {
      const ids: string[] = [];
      for (let v = 1; v <= 6; v++) {
        const tests = Array.from({ length: size }, (_, i) => `${wave}/t${i}.spec.js`);
        const { jobs } = await client.submit({ org_id: `org${v % 3}`, app_version_id: `v${v}`, tests });
        ids.push(...jobs.map((j) => j.id));
      }
      return ids;
    };
    const first = await submitWave('w1', 10);
    const quarantined = await until(async () => {
      const d = await device(client, 'emulator-5554');
      return d?.state === 'quarantined' ? d : undefined;
    }, 30_000);
    const atQuarantine = await batchesOf('emulator-5554');
    expect(atQuarantine.n).toBe(3);
    const cli = await runCli(['agents', `--server=${server.url}`]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/emulator-5554.*quarantined/);
    const json = JSON.parse((await runCli(['agents', `--server=${server.url}`, '--json'])).stdout);
    expect(json.agents.find((a: { name: string }) => a.name === 'broken').devices[0]).toMatchObject({
      state: 'quarantined',
      infra_failures: 3,
      quarantined_until: quarantined.quarantined_until,
    });
    const firstDone: Job[] = await waitForJobs(client, first, 60_000);
    expect(firstDone.every((j) => j.status === 'passed')).toBe(true);
    // Past the cool-down, with work queued: one probe batch of one job; it fails, and the
    // device is quarantined again for twice as long (8 s: longer than what is left to do).
    const second = await submitWave('w2', 2);
    await until(async () => (await batchesOf('emulator-5554')).n === 4 || undefined, coolDownMs + 20_000);
    const again = await until(async () => {
      const d = await device(client, 'emulator-5554');
      return d?.state === 'quarantined' && d.quarantined_until !== quarantined.quarantined_until ? d : undefined;
    }, 10_000);
    expect(await batchesOf('emulator-5554')).toEqual({ n: 4, jobs: atQuarantine.jobs + 1 });
    expect(again.infra_failures).toBe(4);
    const secondDone = await waitForJobs(client, second, 60_000);
    expect(secondDone.every((j) => j.status === 'passed')).toBe(true);
    expect((await batchesOf('emulator-5554')).n).toBe(4);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^qgjob_app_install_failures_total 4$/m);
    expect(metrics).toMatch(/^qgjob_devices\{target="emulator",state="quarantined"\} 1$/m);
  }, 120_000);

  it('does not count a SIGKILLed agent’s device as idle: a small org’s job starts within about a test', async () => {
    const testMs = 1_000;
    server = await startTestServer({ adapter });
    const client = new QgjobClient({ server: server.url });
    const doomed: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        AGENT_MAIN,
        `--server=${server.url}`,
        '--name=doomed',
        '--device=emulator:doomed-1',
        '--executor=simulate',
      ],
      { env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG, LOG_LEVEL: 'warn' }, stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => doomed.once('exit', resolve));
    await until(async () => (await device(client, 'doomed-1'))?.state === 'idle' || undefined, 30_000);
    // Long-polling now; give it a moment so its claim is open, then kill it outright.
    await new Promise((r) => setTimeout(r, 300));
    doomed.kill('SIGKILL');
    await exited;
    await until(async () => (await device(client, 'doomed-1'))?.state === 'offline' || undefined, 2_000, 20);
    await sim('good', ['emulator:g1', 'emulator:g2'], testMs);
    const backlog = Array.from({ length: 300 }, (_, i) => `backlog/t${i}.spec.js`);
    await client.submit({ org_id: 'big', app_version_id: 'v1', tests: backlog });
    // Past the quantum (2 s): the devices may switch orgs.
    await new Promise((r) => setTimeout(r, 3_000));
    const submittedAt = Date.now();
    const { jobs } = await client.submit({
      org_id: 'small',
      app_version_id: 'v1',
      tests: ['s1.spec.js', 's2.spec.js', 's3.spec.js'],
    });
    const firstStart = await until(async () => {
      const all = await Promise.all(jobs.map((j) => client.getJob(j.id)));
      const starts = all.flatMap((j) => j.runs.map((r) => (r.started_at ? Date.parse(r.started_at) : Number.NaN)));
      const first = Math.min(...starts.filter((t) => !Number.isNaN(t)));
      return Number.isFinite(first) ? first : undefined;
    }, 20_000);
    const waitedMs = firstStart - submittedAt;
    console.log(
      `after a SIGKILLed idle agent: the small org's first job started ${waitedMs} ms after its submit (tests of ${testMs} ms)`,
    );
    expect(waitedMs).toBeLessThan(testMs + 1_000);
  }, 90_000);

  it('drains a device: its running test finishes, it takes nothing new, and it comes back on enable', async () => {
    server = await startTestServer({ adapter });
    const client = new QgjobClient({ server: server.url });
    await sim('host', ['emulator:d1'], 1_200);
    const tests = Array.from({ length: 4 }, (_, i) => `t${i}.spec.js`);
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', tests });
    const running = await until(async () => (await client.listJobs({ status: 'running', limit: 1 })).jobs[0]);
    const drain = await runCli(['drain', '--device=d1', `--server=${server.url}`]);
    expect(drain.code).toBe(0);
    const ids = jobs.map((j) => j.id);
    const statuses = async () => (await Promise.all(ids.map((id) => client.getJob(id)))).map((j) => j.status);
    const atDrain = await statuses();
    // The test running when the drain landed finishes (tests of a second or more wait for the
    // answer to their finish before the next starts, so the next one does not start).
    await until(async () => (await device(client, 'd1'))?.state === 'drained' || undefined, 10_000);
    await new Promise((r) => setTimeout(r, 2_500));
    const after = await Promise.all(ids.map((id) => client.getJob(id)));
    const passed = (list: string[]) => list.filter((s) => s === 'passed').length;
    const ranOn = passed(after.map((j) => j.status)) - passed(atDrain);
    expect(ranOn).toBeLessThanOrEqual(1);
    expect(after.find((j) => j.id === running.id)?.status).toBe('passed');
    // The rest went back to the queue, and stay there while the device is drained.
    const held = after.filter((j) => j.status !== 'passed');
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(held.every((j) => j.status === 'queued' && j.runs.length === 0)).toBe(true);
    const enable = await runCli(['enable', '--agent=host', `--server=${server.url}`]);
    expect(enable.code).toBe(0);
    const done = await waitForJobs(
      client,
      jobs.map((j) => j.id),
      30_000,
    );
    expect(done.every((j) => j.status === 'passed' && j.runs.length === 1)).toBe(true);
  }, 60_000);
});
