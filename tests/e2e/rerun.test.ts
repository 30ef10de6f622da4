/**
 * `qgjob rerun` against a real job-server and a simulated agent that fails the checkout test
 * (--sim-fail): the failed test of a bundled submission runs again with the same settings and
 * the same test bundle, and a submission with nothing failed has nothing to re-run.
 */
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const examples = fileURLToPath(new URL('../../examples', import.meta.url));

let server: TestServer;
let agent: SimAgent;
let client: QgjobClient;
const env = () => ({ QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '50' });

beforeAll(async () => {
  server = await startTestServer();
  agent = await startSimAgent(server.url, { devices: ['emulator:e1', 'emulator:e2'], fail: 'checkout' });
  client = new QgjobClient({ server: server.url });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await server?.close();
});

describe('qgjob rerun on a real job-server', () => {
  it('--failed --wait runs the failed test again, with the same settings and bundle', async () => {
    const submitted = await runCli(
      [
        'submit',
        '--org-id=qualgent',
        '--app-version-id=rerun-e2e',
        '--test=tests/*.spec.js',
        '--priority=high',
        '--max-retries=1',
        '--wait',
        '--json',
      ],
      { env: env(), cwd: examples, timeoutMs: 60_000 },
    );
    expect(submitted.code, submitted.stderr).toBe(1);
    const first = JSON.parse(submitted.stdout);
    expect(first.results.summary).toMatchObject({ passed: 3, failed: 1 });
    expect(first.bundle.sha256).toMatch(/^[0-9a-f]{64}$/);

    const r = await runCli(['rerun', `--submission-id=${first.submission_id}`, '--failed', '--wait', '--json'], {
      env: env(),
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.rerun_of).toBe(first.submission_id);
    expect(doc.submission_id).not.toBe(first.submission_id);
    expect(doc.jobs.map((job: { test_path: string }) => job.test_path)).toEqual(['tests/checkout.spec.js']);
    expect(doc.results.summary).toMatchObject({ passed: 0, failed: 1 });

    const again = await client.getJob(doc.jobs[0].id);
    expect(again).toMatchObject({
      submission_id: doc.submission_id,
      org_id: 'qualgent',
      app_version_id: 'rerun-e2e',
      target: 'emulator',
      priority: 8,
      max_retries: 1,
      bundle_sha256: first.bundle.sha256,
      status: 'failed',
    });
    // Retried once, as the original was.
    expect(again.runs).toHaveLength(2);
  }, 120_000);

  it('everything passed: nothing to re-run with --failed (exit 0); every test again without it', async () => {
    const submitted = await runCli(
      [
        'submit',
        '--org-id=qualgent',
        '--app-version-id=rerun-ok',
        '--test=tests/login.spec.js',
        '--no-bundle',
        '--wait',
        '--json',
      ],
      { env: env(), timeoutMs: 60_000 },
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = JSON.parse(submitted.stdout).submission_id as string;

    const none = await runCli(['rerun', `--submission-id=${id}`, '--failed'], { env: env() });
    expect(none.code).toBe(0);
    expect(none.stderr).toBe(
      `nothing to re-run: no job of submission ${id} failed, errored or was cancelled (1 passed)\n`,
    );

    const all = await runCli(['rerun', `--submission-id=${id}`, '--wait'], { env: env(), timeoutMs: 60_000 });
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr).toContain(`re-running 1 test of submission ${id}\n`);
    expect(all.stdout).toMatch(/^submission sub_\w+: 1 job\n/);
    expect(all.stdout).toMatch(/1 passed, 0 failed/);
  }, 120_000);

  it('an unknown submission exits 2', async () => {
    const r = await runCli(['rerun', '--submission-id=sub_00000000000000000000000000', '--failed'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no submission with id sub_0+ — check the id printed by qgjob submit\n$/);
  });
});
