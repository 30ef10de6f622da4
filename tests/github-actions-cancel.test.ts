/**
 * A workflow run cancelled while `qgjob submit --wait` waits, run the way GitHub runs and
 * cancels it (helpers/actions-runner.ts): SIGINT to the step's entry process, SIGTERM 7.5 s
 * later, then SIGKILL to the step's process tree. Against a real job-server and a simulated
 * agent with one device and slow tests (`@<n>ms` in a test path sets its duration).
 *
 * With `exec qgjob …` the CLI is the step's entry process: it gets the SIGINT, cancels the
 * submission's jobs and exits 130, and the device goes on to other work. Without `exec`, bash
 * gets the signals and the CLI only the final SIGKILL: the jobs keep running.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import type { JobSummary } from '@qgjob/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobResult, runJob } from './helpers/actions-runner.js';
import { type SimAgent, startSimAgent } from './helpers/agent.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const CLI_BIN = join(repo, 'packages/cli/bin/qgjob.js');

let server: TestServer;
let agent: SimAgent;
let client: QgjobClient;
let dir: string;

beforeAll(async () => {
  if (!existsSync(join(repo, 'packages/cli/dist/main.js'))) throw new Error("run 'npm run build' first");
  server = await startTestServer();
  agent = await startSimAgent(server.url, { devices: ['emulator:e1'] });
  client = new QgjobClient({ server: server.url });
  dir = mkdtempSync(join(tmpdir(), 'gha-cancel-'));
  // `qgjob` on PATH, as the action's install step puts it there.
  symlinkSync(CLI_BIN, join(dir, 'qgjob'));
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function machineEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(GITHUB_|QGJOB_|RUNNER_|INPUT_|NO_COLOR|FORCE_COLOR)/.test(k)) env[k] = v;
  }
  return { ...env, PATH: `${dir}:${env.PATH ?? ''}` };
}

/** A one-job workflow: submit two 30 s tests and wait, a step that needs success, one that always runs. */
function workflow(name: string, app: string, exec: boolean): string {
  const file = join(dir, `${name}.yml`);
  const tests = "--test='tests/long-a@30000ms.spec.js' --test='tests/long-b@30000ms.spec.js'";
  writeFileSync(
    file,
    `name: ${name}
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    steps:
      - name: Submit and wait
        id: qgjob
        run: |
          ${exec ? 'exec ' : ''}qgjob submit --org-id=qualgent --app-version-id=${app} ${tests} --no-bundle --wait --timeout=5m
      - name: Only on success
        run: echo ran
      - name: Report
        if: always()
        run: |
          echo "submission=\${{ steps.qgjob.outputs.submission-id }} cancelled=\${{ steps.qgjob.outputs.cancelled }}"
          echo "temp=$RUNNER_TEMP"
`,
  );
  return file;
}

async function jobsOf(app: string): Promise<JobSummary[]> {
  return (await client.listJobs({ app_version_id: app })).jobs;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the workflow and cancels it once one of its tests runs on the device. */
async function runAndCancel(file: string, app: string, grace?: { sigint: number; sigterm: number }) {
  const cancel = new AbortController();
  const run: Promise<JobResult> = runJob({
    repo,
    workflow: file,
    job: 'tests',
    env: machineEnv(),
    jobEnv: { QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '100' },
    signal: cancel.signal,
    cancelGraceMs: grace,
    stepTimeoutMs: 90_000,
  });
  await until('a test to run', async () =>
    (await jobsOf(app)).some((j) => j.status === 'running') ? true : undefined,
  );
  const cancelledAt = Date.now();
  cancel.abort();
  const result = await run;
  return { result, ms: Date.now() - cancelledAt };
}

describe('GitHub Actions: a run cancelled while qgjob submit --wait waits', () => {
  it('exec qgjob: SIGINT cancels the submission, the step exits 130, the device takes other work', async () => {
    const { result, ms } = await runAndCancel(workflow('cancel-exec', 'cancel-exec', true), 'cancel-exec');
    const [submit, onlyOnSuccess, report] = result.steps;
    expect(result.cancelled).toBe(true);
    expect(submit?.code, result.log).toBe(130);
    // Done within the SIGINT's grace: no SIGTERM was needed.
    expect(submit?.signals).toEqual(['SIGINT']);
    expect(ms).toBeLessThan(7500);
    expect(submit?.stderr).toMatch(
      /^::warning title=qgjob cancelled::The run was cancelled: qgjob interrupted: cancelled 2 of 2 jobs of submission sub_\w+$/m,
    );
    expect(submit?.stderr).toMatch(/^error: interrupted: cancelled 2 of 2 jobs of submission sub_\w+\n$/m);
    expect(onlyOnSuccess?.skipped).toBe('the run was cancelled');
    const jobs = await jobsOf('cancel-exec');
    expect(jobs.map((job) => job.status)).toEqual(['cancelled', 'cancelled']);
    expect(report?.stdout).toMatch(new RegExp(`^submission=${jobs[0]?.submission_id} cancelled=2\ntemp=(.+)\n$`));
    // The runner's temporary directory (step scripts, output files) is gone with the job.
    const temp = /temp=(.+)\n/.exec(report?.stdout ?? '')?.[1] as string;
    expect(temp).toMatch(/gha-runner-/);
    expect(existsSync(temp)).toBe(false);

    // The device is free again: another submission's test runs on it and passes.
    const next = await client.submit({
      org_id: 'qualgent',
      app_version_id: 'after-cancel',
      test_path: 'tests/quick@50ms.spec.js',
    });
    const id = next.jobs[0]?.id as string;
    const done = await until('the next job to finish', async () => {
      const job = await client.getJob(id);
      return job.status === 'queued' || job.status === 'assigned' || job.status === 'running' ? undefined : job;
    });
    expect(done.status).toBe('passed');
    expect(done.runs.at(-1)?.device).toBe('e1');
  }, 120_000);

  it('without exec: bash gets the signals, qgjob only the final SIGKILL, and the jobs keep running', async () => {
    const grace = { sigint: 1000, sigterm: 1000 };
    const { result } = await runAndCancel(workflow('cancel-shell', 'cancel-shell', false), 'cancel-shell', grace);
    const submit = result.steps[0];
    expect(submit?.code).not.toBe(0);
    expect(submit?.signals).toEqual(['SIGINT', 'SIGTERM', 'SIGKILL']);
    expect(submit?.stderr).not.toContain('cancelled');
    const jobs = await jobsOf('cancel-shell');
    expect(jobs.filter((job) => job.status === 'cancelled')).toEqual([]);
    // Tidy up for the device: what the step could not do.
    await Promise.all(jobs.map((job) => client.cancelJob(job.id).catch(() => undefined)));
  }, 120_000);
});
