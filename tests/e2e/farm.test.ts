/**
 * End to end: a real job-server, real agents (simulate executor), the real CLI.
 * Runs on PGlite, and on PostgreSQL too when QGJOB_TEST_DATABASE_URL is set.
 */
import { QgjobClient } from '@qgjob/client';
import type { Job } from '@qgjob/protocol';
import { DEFAULT_POLICY_CONFIG } from '@qgjob/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(adapters)('farm end to end on $name', (adapter) => {
  let server: TestServer;
  const agents: SimAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await server.close();
  });

  it('installs once per group, and qgjob status shows one batch per group with only its first run installing', async () => {
    server = await startTestServer({ adapter });
    agents.push(
      await startSimAgent(server.url, { devices: ['emulator:e1', 'emulator:e2', 'emulator:e3', 'emulator:e4'] }),
    );
    const groups = [
      ['acme', 'v1'],
      ['acme', 'v2'],
      ['globex', 'g1'],
    ];
    const submissions: string[] = [];
    for (const [org, version] of groups) {
      const tests = ['login', 'search', 'checkout', 'settings'].flatMap((t) => ['--test', `tests/${t}.spec.js`]);
      const res = await runCli([
        'submit',
        `--server=${server.url}`,
        `--org-id=${org}`,
        `--app-version-id=${version}`,
        ...tests,
        '--wait',
        '--timeout=60s',
        '--json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      submissions.push(JSON.parse(res.stdout).submission_id);
    }
    const client = new QgjobClient({ server: server.url });
    for (const id of submissions) {
      const sub = await client.getSubmission(id);
      const jobs: Job[] = [];
      for (const j of sub.jobs) {
        const res = await runCli(['status', `--server=${server.url}`, `--job-id=${j.id}`, '--json']);
        expect(res.code).toBe(0);
        jobs.push(JSON.parse(res.stdout));
      }
      const runs = jobs.map((j) => j.runs[0]);
      expect(new Set(runs.map((r) => r?.batch_id)).size).toBe(1);
      // Only the first run installed: exactly one, and no run of the batch started before it
      // (runs started in one report can share a millisecond).
      const installed = runs.filter((r) => r?.app_installed);
      expect(installed).toHaveLength(1);
      const firstStart = Math.min(...runs.map((r) => Date.parse(r?.started_at ?? '')));
      expect(Date.parse(installed[0]?.started_at ?? '')).toBe(firstStart);
      expect(jobs.every((j) => j.status === 'passed' && j.runs.length === 1)).toBe(true);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^qgjob_app_installs_total 3$/m);
    expect(metrics).toMatch(/^qgjob_batches_total 3$/m);
    expect(metrics).toMatch(/^qgjob_jobs_submitted_total 12$/m);
    expect(metrics).toMatch(/^qgjob_jobs_finished_total\{status="passed"\} 12$/m);
    expect(metrics).toMatch(/^qgjob_queue_depth\{target="emulator"\} 0$/m);
  }, 90_000);

  it("starts a second org's jobs within about a quantum, not after the first org's backlog", async () => {
    server = await startTestServer({ adapter });
    const testMs = 200;
    agents.push(
      await startSimAgent(server.url, {
        devices: ['emulator:e1', 'emulator:e2', 'emulator:e3', 'emulator:e4'],
        testMs,
        installMs: 50,
      }),
    );
    const client = new QgjobClient({ server: server.url });
    const tests = Array.from({ length: 500 }, (_, i) => `tests/backlog/${i}.spec.js`);
    await client.submit({ org_id: 'acme', app_version_id: 'big', tests });
    await until(async () => (await client.listJobs({ org_id: 'acme', status: 'running', limit: 4 })).jobs.length === 4);
    const submitted = Date.now();
    const b = await client.submit({
      org_id: 'globex',
      app_version_id: 'small',
      tests: Array.from({ length: 5 }, (_, i) => `tests/b${i}.spec.js`),
    });
    const first = b.jobs[0]?.id as string;
    await until(async () => (await client.getJob(first)).started_at !== null);
    const job = await client.getJob(first);
    const waited = Date.parse(job.started_at as string) - submitted;
    // A device yields once it has served its group for a quantum (here the 2 s minimum: 4 ×
    // a 50 ms install is less), then its current test ends; the backlog alone would take
    // 500 × 200 ms / 4 devices = 25 s. The bound leaves room for a loaded CI machine while
    // still telling the two apart.
    console.log(`second org's first job started ${waited} ms after its submit`);
    expect(waited).toBeLessThan(5000);
    const passed = (await client.listJobs({ org_id: 'acme', status: 'passed', limit: 500 })).jobs.length;
    // At most about a quantum and the 1 s yield-check interval of acme's tests per device.
    const quantum = DEFAULT_POLICY_CONFIG.minQuantumMs;
    expect(passed).toBeLessThan(4 * ((quantum + 1000) / testMs + 2));
  }, 90_000);
});
