/** The CLI as a process against an in-memory stand-in server (fake-server.ts). */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

let server: FakeServer;
let dir: string;
// GITHUB_ACTIONS off even when the tests themselves run in GitHub Actions (cli-github.test.ts covers it).
const env = () => ({ QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '20', GITHUB_ACTIONS: '' });
const SUBMIT = ['submit', '--org-id=qualgent', '--app-version-id=xyz123'];

beforeAll(async () => {
  server = await startFakeServer();
  dir = mkdtempSync(join(tmpdir(), 'qgjob-cli-'));
  mkdirSync(join(dir, 'tests'));
  for (const name of ['login.spec.js', 'onboarding.spec.js', 'fail-checkout.spec.js']) {
    writeFileSync(join(dir, 'tests', name), '');
  }
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('qgjob against a server', () => {
  it('submit --json prints exactly the submit document', async () => {
    const r = await runCli([...SUBMIT, '--test=./tests/a.spec.js', '--priority=high', '--json'], { env: env() });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc).sort()).toEqual(['bundle', 'jobs', 'submission_id']);
    // tests/a.spec.js is no file in the working directory: nothing to bundle.
    expect(doc.bundle).toBeNull();
    expect(r.stderr).toMatch(/^note: not bundling test sources: tests\/a\.spec\.js is not a file in /);
    expect(doc.jobs).toEqual([
      expect.objectContaining({ test_path: 'tests/a.spec.js', priority: 8, target: 'emulator', deduplicated: false }),
    ]);
    expect(server.keys.at(-1)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('submit expands globs into one submission and prints one line per job', async () => {
    const r = await runCli([...SUBMIT, '--test=tests/*.spec.js', '--target=device'], { env: env(), cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^submission sub_\d+: 3 jobs\n/);
    expect(r.stdout).toContain('tests/fail-checkout.spec.js');
    expect(r.stdout).not.toContain('\x1b[');
    expect(r.stderr).toMatch(
      /^bundle [0-9a-f]{12}: 4 files, \d+ B, (uploaded|already on the server)\nfollow with: qgjob wait --submission-id=sub_\d+\n$/,
    );
  });

  it('submit --wait exits 1 when a job fails, writes JUnit and prints the summary', async () => {
    const junit = join(dir, 'out', 'junit.xml');
    const r = await runCli([...SUBMIT, '--app-version-id=v2', '--test=tests/*.spec.js', '--wait', `--junit=${junit}`], {
      env: env(),
      cwd: dir,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\n2 passed, 1 failed, 0 errored, 0 cancelled in \d/);
    // The stand-in server moves jobs on every read, so the first poll already sees them running.
    expect(r.stderr).toMatch(/^bundle [0-9a-f]{12}: [^\n]+\nwaiting for 3 jobs: 3 running\n/);
    expect(r.stderr).toMatch(/\njob_\d+ tests\/login\.spec\.js passed\n/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('<testsuite name="sub_');
    expect(xml).toContain('classname="emulator.v2"');
    expect(xml.match(/<failure /g)).toHaveLength(1);
  });

  it('submit --wait --json prints one document with results', async () => {
    const r = await runCli([...SUBMIT, '--app-version-id=v3', '--test=tests/ok.spec.js', '--wait', '--json'], {
      env: env(),
    });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.jobs).toHaveLength(1);
    expect(doc.results.jobs[0].status).toBe('passed');
    expect(doc.results.summary).toMatchObject({ passed: 1, failed: 0, timed_out: false });
  });

  it('submit --wait follows deduplicated jobs from an earlier submission', async () => {
    const first = await runCli([...SUBMIT, '--app-version-id=v4', '--test=tests/dup.spec.js', '--json'], {
      env: env(),
    });
    const r = await runCli([...SUBMIT, '--app-version-id=v4', '--test=tests/dup.spec.js', '--wait'], { env: env() });
    expect(JSON.parse(first.stdout).jobs[0].deduplicated).toBe(false);
    expect(r.stdout).toContain('deduplicated');
    expect(r.code).toBe(0);
  });

  it('wait --timeout exits 5 and says how to keep following', async () => {
    const submitted = await runCli([...SUBMIT, '--test=tests/slow.spec.js', '--json'], { env: env() });
    const id = JSON.parse(submitted.stdout).submission_id as string;
    const r = await runCli(['wait', `--submission-id=${id}`, '--timeout=300ms'], { env: env() });
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('1 unfinished');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      `error: --timeout of 300ms elapsed with 1 of 1 job unfinished — they keep running on the server; follow them with 'qgjob wait --submission-id=${id}'`,
    );
  });

  it('status shows a job with its runs; --json is the server document', async () => {
    const submitted = await runCli([...SUBMIT, '--app-version-id=v5', '--test=tests/error-x.spec.js', '--json'], {
      env: env(),
    });
    const jobId = JSON.parse(submitted.stdout).jobs[0].id as string;
    const waited = await runCli(['wait', `--job-id=${jobId}`], { env: env() });
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(/0 passed, 0 failed, 1 errored, 0 cancelled/);
    const human = await runCli(['status', `--job-id=${jobId}`], { env: env() });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/status\s+errored/);
    expect(human.stdout).toMatch(/N\s+STATUS\s+AGENT\s+DEVICE\s+BATCH\s+APP_INSTALLED\s+DURATION\s+ERROR/);
    expect(human.stdout).toMatch(/1\s+errored\s+agent-1\s+emulator-1\s+batch_1\s+yes\s+1\.5s/);
    const json = await runCli(['status', `--job-id=${jobId}`, '--json'], { env: env() });
    expect(JSON.parse(json.stdout)).toMatchObject({
      id: jobId,
      status: 'errored',
      runs: [{ n: 1, app_installed: true }],
    });
  });

  it('status of an unknown id exits 2', async () => {
    const r = await runCli(['status', '--job-id=job_nope'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no job with id job_nope/);
  });

  it('cancel cancels a queued or a running job and refuses a finished one with exit 2', async () => {
    const submitted = await runCli(
      [
        ...SUBMIT,
        '--app-version-id=v6',
        '--test=tests/c.spec.js',
        '--test=tests/d.spec.js',
        '--test=tests/e.spec.js',
        '--json',
      ],
      { env: env() },
    );
    const [queued, running, finished] = (JSON.parse(submitted.stdout).jobs as { id: string }[]).map((j) => j.id);
    const r = await runCli(['cancel', `--job-id=${queued}`], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${queued} cancelled\n`);
    // Cancelling a cancelled job again is fine.
    const again = await runCli(['cancel', `--job-id=${queued}`], { env: env() });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`${queued} cancelled\n`);

    // Each read moves a job of the stand-in one step: queued → running (→ passed).
    await runCli(['status', `--job-id=${running}`], { env: env() });
    const stopped = await runCli(['cancel', `--job-id=${running}`], { env: env() });
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toBe(`${running} cancelled\n`);

    await runCli(['status', `--job-id=${finished}`], { env: env() });
    await runCli(['status', `--job-id=${finished}`], { env: env() });
    const refused = await runCli(['cancel', `--job-id=${finished}`], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `error: job ${finished} already passed: only an unfinished job can be cancelled — a finished job keeps its outcome: see 'qgjob status --job-id=${finished}'\n`,
    );
  });

  it('list prints a table, and a hint on stderr when there is another page', async () => {
    const r = await runCli(['list', '--limit=2'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^JOB\s+STATUS\s+ORG/);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(r.stderr).toMatch(/--cursor=2/);
    const json = await runCli(['list', '--limit=2', '--cursor=2', '--json'], { env: env() });
    expect(JSON.parse(json.stdout)).toMatchObject({ jobs: expect.any(Array), next_cursor: expect.anything() });
  });

  it('exits 4 when the server refuses the token', async () => {
    const guarded = await startFakeServer({ token: 'right' });
    try {
      const r = await runCli(['list', `--server=${guarded.url}`, '--token=wrong']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^error: .*--token or QGJOB_TOKEN\n$/);
      const ok = await runCli(['list', `--server=${guarded.url}`], { env: { QGJOB_TOKEN: 'right' } });
      expect(ok.code).toBe(0);
    } finally {
      await guarded.close();
    }
  });

  it('fails over to the next server URL', async () => {
    const r = await runCli(['list', `--server=http://127.0.0.1:1,${server.url}`, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).jobs.length).toBeGreaterThan(0);
  });
});
