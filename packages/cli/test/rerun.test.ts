/** `qgjob rerun`: what it re-submits, as a process against the stand-in server, and its request rules. */
import type { Job, JobStatus } from '@qgjob/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { jobsToRerun, rerunRequest } from '../src/commands/rerun/run.js';
import { UsageError } from '../src/errors.js';
import { type FakeServer, startFakeServer } from './fake-server.js';
import { jobOf } from './fixtures.js';

let server: FakeServer;
let seq = 0;
const BUNDLE = 'a'.repeat(64);

beforeAll(async () => {
  server = await startFakeServer();
});
afterAll(() => server.close());

const env = () => ({ QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '20' });

/** A finished submission on the stand-in: one job per status, sharing org, build, target and bundle. */
function seed(statuses: JobStatus[], overrides: Partial<Job> = {}): { id: string; jobs: Job[] } {
  const id = `sub_seed${++seq}`;
  const jobs = statuses.map((status, i) =>
    jobOf(`job_seed${seq}_${i}`, {
      submission_id: id,
      status,
      app_version_id: `rerun${seq}`,
      test_path: `tests/${status}-${i}.spec.js`,
      target: 'device',
      priority: 8,
      max_retries: 2,
      bundle_sha256: BUNDLE,
      ...overrides,
    }),
  );
  for (const job of jobs) server.jobs.set(job.id, job);
  server.submissions.set(
    id,
    jobs.map((job) => job.id),
  );
  return { id, jobs };
}

describe('qgjob rerun', () => {
  it('--failed submits the failed, errored and cancelled tests again with the same settings and bundle', async () => {
    const { id } = seed(['passed', 'failed', 'errored', 'cancelled', 'passed']);
    const before = server.submits.length;
    const r = await runCli(['rerun', `--submission-id=${id}`, '--failed'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(server.submits.slice(before)).toEqual([
      {
        org_id: 'qualgent',
        app_version_id: `rerun${seq}`,
        target: 'device',
        priority: 8,
        max_retries: 2,
        tests: ['tests/failed-1.spec.js', 'tests/errored-2.spec.js', 'tests/cancelled-3.spec.js'],
        bundle_sha256: BUNDLE,
      },
    ]);
    expect(r.stderr).toContain(`re-running 3 failed, errored or cancelled tests of submission ${id}\n`);
    expect(r.stderr).toMatch(/follow with: qgjob wait --submission-id=sub_\d+\n$/);
    expect(r.stdout).toMatch(/^submission sub_\d+: 3 jobs\n/);
  });

  it('without --failed submits every test of the submission; a single test as test_path', async () => {
    const { id } = seed(['passed', 'failed']);
    const before = server.submits.length;
    const r = await runCli(['rerun', `--submission-id=${id}`, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(server.submits[before]?.tests).toEqual(['tests/passed-0.spec.js', 'tests/failed-1.spec.js']);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ rerun_of: id, rerun_jobs: [`job_seed${seq}_0`, `job_seed${seq}_1`] });
    expect(doc.submission_id).toMatch(/^sub_\d+$/);
    expect(doc.jobs).toHaveLength(2);

    const single = seed(['failed', 'passed'], { bundle_sha256: null });
    const r2 = await runCli(['rerun', `--submission-id=${single.id}`, '--failed'], { env: env() });
    expect(r2.code, r2.stderr).toBe(0);
    expect(server.submits.at(-1)).toEqual({
      org_id: 'qualgent',
      app_version_id: `rerun${seq}`,
      target: 'device',
      priority: 8,
      max_retries: 2,
      test_path: 'tests/failed-0.spec.js',
    });
  });

  it('--wait --json follows the new submission like submit --wait, and exits 1 when a test fails again', async () => {
    // The stand-in fails a test whose path contains "fail": tests/failed-1.spec.js fails again.
    const { id } = seed(['passed', 'failed', 'passed']);
    const r = await runCli(['rerun', `--submission-id=${id}`, '--wait', '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.rerun_of).toBe(id);
    expect(doc.results.summary).toMatchObject({ passed: 2, failed: 1, timed_out: false });
  });

  it('nothing to re-run: a note, no submit, exit 0', async () => {
    const { id } = seed(['passed', 'passed']);
    const before = server.submits.length;
    const r = await runCli(['rerun', `--submission-id=${id}`, '--failed'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `nothing to re-run: no job of submission ${id} failed, errored or was cancelled (2 passed)\n`,
    );
    expect(server.submits.length).toBe(before);

    const json = await runCli(['rerun', `--submission-id=${id}`, '--failed', '--json'], { env: env() });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ rerun_of: id, submission_id: null, jobs: [] });
  });

  it('an unknown submission exits 2; a missing --submission-id is named', async () => {
    const unknown = await runCli(['rerun', '--submission-id=sub_nope', '--failed'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('error: no submission with id sub_nope — check the id printed by qgjob submit\n');
    const missing = await runCli(['rerun', '--failed'], { env: env() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      "error: --submission-id is required — use the id qgjob submit printed, or find ids with 'qgjob list'\n",
    );
    const badTimeout = await runCli(['rerun', '--submission-id=sub_x', '--timeout=soon'], { env: env() });
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout');
  });

  it('--help marks --submission-id required, says which jobs --failed takes, and shows examples', async () => {
    const r = await runCli(['rerun', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--submission-id <id>\s+the submission to run again[^\n]*\n?[^\n]*\(required\)/);
    expect(r.stdout).toMatch(/with --failed only\s+those whose job failed, errored or was cancelled/);
    expect(r.stdout).toContain('$ qgjob rerun --submission-id=sub_456 --failed');
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/\n {2}rerun /);
  });
});

describe('rerunRequest', () => {
  it('copies what the jobs share', () => {
    const jobs = [jobOf('a', { status: 'failed' }), jobOf('b', { status: 'passed' })];
    expect(jobsToRerun(jobs, true).map((job) => job.id)).toEqual(['a']);
    expect(rerunRequest('sub_1', jobs)).toEqual({
      org_id: 'qualgent',
      app_version_id: 'xyz123',
      target: 'emulator',
      priority: 5,
      max_retries: 0,
      tests: ['tests/a.spec.js', 'tests/b.spec.js'],
    });
  });

  it('refuses jobs that differ, naming the field', () => {
    const jobs = [jobOf('a'), jobOf('b', { app_version_id: 'other' })];
    expect(() => rerunRequest('sub_1', jobs)).toThrow(UsageError);
    expect(() => rerunRequest('sub_1', jobs)).toThrow(/differ in app_version_id \(a: xyz123, b: other\)/);
  });
});
