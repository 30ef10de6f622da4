/** `submit --wait` and `wait` in GitHub Actions (GITHUB_ACTIONS=true), as a process against the stand-in server. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

let server: FakeServer;
let dir: string;
let summaryFile: string;
let outputFile: string;
let n = 0;
const SUBMIT = ['submit', '--org-id=qualgent'];

function env(github = true): Record<string, string> {
  return {
    QGJOB_SERVER: server.url,
    QGJOB_POLL_INTERVAL_MS: '20',
    GITHUB_ACTIONS: github ? 'true' : '',
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_OUTPUT: outputFile,
  };
}

function outputs(): Record<string, string> {
  return Object.fromEntries(
    readFileSync(outputFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

beforeAll(async () => {
  server = await startFakeServer();
  dir = mkdtempSync(join(tmpdir(), 'qgjob-cli-gh-'));
});

beforeEach(() => {
  n++;
  summaryFile = join(dir, `summary-${n}.md`);
  outputFile = join(dir, `output-${n}`);
  writeFileSync(summaryFile, '');
  writeFileSync(outputFile, '');
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('qgjob in GitHub Actions', () => {
  it('submit --wait --json: one JSON document on stdout; group, annotations, summary and outputs', async () => {
    const junit = join(dir, 'junit.xml');
    const r = await runCli(
      [
        ...SUBMIT,
        '--app-version-id=gh1',
        '--test=tests/ok.spec.js',
        '--test=tests/fail-pay.spec.js',
        '--no-bundle',
        '--wait',
        '--json',
        `--junit=${junit}`,
      ],
      { env: env() },
    );
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.results.summary).toMatchObject({ passed: 1, failed: 1 });
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('::group::qgjob: waiting for 2 jobs');
    expect(lines[1]).toMatch(/^waiting for 2 jobs: /);
    const end = lines.indexOf('::endgroup::');
    expect(end).toBeGreaterThan(1);
    expect(lines.slice(end + 1)).toEqual([
      '::error file=tests/fail-pay.spec.js,title=qgjob failed::tests/fail-pay.spec.js failed on emulator/emulator-1 (gh1): failed: expected <Welcome> to be visible',
    ]);
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toMatch(
      /^### ❌ qgjob: 1 passed, 1 failed\n\nSubmission `sub_\d+` · server http:\/\/127\.0\.0\.1:\d+ · /,
    );
    expect(summary).toContain('2 app installs for 2 runs (0 saved)');
    const rows = summary.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows).toEqual([
      '| `tests/fail-pay.spec.js` | emulator | `emulator-1` | ❌ failed | 1.5s | 0 | yes |',
      '| `tests/ok.spec.js` | emulator | `emulator-1` | ✅ passed | 1.5s | 0 | yes |',
    ]);
    expect(outputs()).toEqual({
      'submission-id': doc.submission_id,
      passed: '1',
      failed: '1',
      errored: '0',
      cancelled: '0',
      unfinished: '0',
      total: '2',
      'timed-out': 'false',
      junit,
    });
  });

  it('wait --job-id: the submission of the job in the outputs; passes with exit 0', async () => {
    const submitted = await runCli([...SUBMIT, '--app-version-id=gh2', '--test=tests/a.spec.js', '--json'], {
      env: env(false),
    });
    const doc = JSON.parse(submitted.stdout);
    const jobId = doc.jobs[0].id as string;
    const r = await runCli(['wait', `--job-id=${jobId}`], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 passed, 0 failed, 0 errored, 0 cancelled/);
    expect(r.stderr).not.toContain('::error');
    expect(r.stderr).toMatch(/^::group::qgjob: waiting for 1 job\n[\s\S]*::endgroup::\n$/);
    expect(outputs()).toMatchObject({ 'submission-id': doc.submission_id, passed: '1', total: '1', junit: '' });
    expect(readFileSync(summaryFile, 'utf8')).toMatch(/^### ✅ qgjob: 1 passed\n\nSubmission `sub_\d+` · /);
  });

  it('wait --timeout still writes the summary and outputs, and exits 5', async () => {
    const submitted = await runCli([...SUBMIT, '--app-version-id=gh3', '--test=tests/slow.spec.js', '--json'], {
      env: env(false),
    });
    const id = JSON.parse(submitted.stdout).submission_id as string;
    const r = await runCli(['wait', `--submission-id=${id}`, '--timeout=300ms'], { env: env() });
    expect(r.code).toBe(5);
    expect(outputs()).toMatchObject({ 'submission-id': id, unfinished: '1', 'timed-out': 'true', total: '1' });
    expect(r.stderr).toContain(
      `::error title=qgjob timed out::--timeout of 300ms elapsed with 1 of 1 job unfinished: they keep running on the server; follow them with 'qgjob wait --submission-id=${id}'\n`,
    );
    expect(readFileSync(summaryFile, 'utf8')).toContain('--timeout elapsed with 1 job unfinished');
  });

  it('wait --job-id of jobs of several submissions: no submission-id output', async () => {
    const ids: string[] = [];
    for (const app of ['gh5', 'gh6']) {
      const submitted = await runCli([...SUBMIT, `--app-version-id=${app}`, '--test=tests/b.spec.js', '--json'], {
        env: env(false),
      });
      ids.push(JSON.parse(submitted.stdout).jobs[0].id as string);
    }
    const r = await runCli(['wait', ...ids.map((id) => `--job-id=${id}`)], { env: env() });
    expect(r.code).toBe(0);
    expect(outputs()).not.toHaveProperty('submission-id');
    expect(outputs()).toMatchObject({ passed: '2', total: '2' });
  });

  it('without GITHUB_ACTIONS=true: no workflow commands and no files written', async () => {
    const r = await runCli([...SUBMIT, '--app-version-id=gh4', '--test=tests/fail-x.spec.js', '--wait'], {
      env: env(false),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('::');
    expect(readFileSync(summaryFile, 'utf8')).toBe('');
    expect(readFileSync(outputFile, 'utf8')).toBe('');
  });
});
