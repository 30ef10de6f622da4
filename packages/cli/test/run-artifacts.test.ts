/**
 * `qgjob artifacts` and the artifacts part of `qgjob status`, as processes against an
 * in-process job-server: files land in DIR/run-<n>/<name> byte for byte, and a name, a
 * size or a link that would put a file elsewhere is refused with nothing written.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { startRun } from '../../../tests/helpers/runs.js';
import { startTestServer, type TestServer } from '../../../tests/helpers/server.js';

let server: TestServer;
let client: QgjobClient;
let dir: string;
const env = () => ({ QGJOB_SERVER: server.url });

const TRACE = Buffer.from('PK fake trace zip');
const SHOT = Buffer.from('\x89PNG fake screenshot');

/** A job of `test` that ran `runs` times (all but the last failed), leaving `files(n)` in run n. */
async function jobWithRuns(test: string, runs: number, files: (n: number) => Record<string, Buffer>): Promise<string> {
  const submitted = await client.submit({ org_id: 'qualgent', app_version_id: 'v1', test_path: test, max_retries: 5 });
  const jobId = submitted.jobs[0]?.id as string;
  for (let n = 1; n <= runs; n++) {
    const batch = await startRun(server.app, jobId);
    for (const [name, bytes] of Object.entries(files(n))) {
      await client.putRunArtifact(batch.id, jobId, name, bytes, name.endsWith('.png') ? 'image/png' : undefined);
    }
    const status = n === runs ? 'passed' : 'failed';
    await client.report(batch.id, { events: [{ type: 'finish', job_id: jobId, status }], done: { unstarted: [] } });
  }
  return jobId;
}

let retried: string;
let bare: string;

beforeAll(async () => {
  server = await startTestServer();
  client = new QgjobClient({ server: server.url });
  dir = mkdtempSync(join(tmpdir(), 'qgjob-cli-run-artifacts-'));
  retried = await jobWithRuns(
    'tests/login.spec.js',
    2,
    (n): Record<string, Buffer> =>
      n === 1
        ? { 'login-spec/trace.zip': TRACE, 'login-spec/test-failed-1.png': SHOT }
        : { 'login-spec/trace.zip': TRACE },
  );
  bare = await jobWithRuns('tests/bare.spec.js', 1, () => ({}));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('qgjob artifacts', () => {
  it('downloads every run’s files into DIR/run-<n>/<name> and prints one line per file', async () => {
    const out = join(dir, 'all');
    const r = await runCli(['artifacts', `--job-id=${retried}`, `--dir=${out}`], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'run-1', 'login-spec', 'trace.zip')).equals(TRACE)).toBe(true);
    expect(readFileSync(join(out, 'run-1', 'login-spec', 'test-failed-1.png')).equals(SHOT)).toBe(true);
    expect(readFileSync(join(out, 'run-2', 'login-spec', 'trace.zip')).equals(TRACE)).toBe(true);
    expect(r.stdout.trim().split('\n')).toEqual([
      `${join(out, 'run-1', 'login-spec', 'test-failed-1.png')}  ${SHOT.length} B`,
      `${join(out, 'run-1', 'login-spec', 'trace.zip')}  ${TRACE.length} B`,
      `${join(out, 'run-2', 'login-spec', 'trace.zip')}  ${TRACE.length} B`,
    ]);
    expect(r.stderr).toMatch(new RegExp(`^3 files \\(\\d+ B\\) of job ${retried} in `));
    // No temporary file is left beside them.
    expect(readdirSync(join(out, 'run-1', 'login-spec')).sort()).toEqual(['test-failed-1.png', 'trace.zip']);
  });

  it('--run takes one run; --json prints one document; the default DIR is ./qgjob-artifacts/<job-id>', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const r = await runCli(['artifacts', `--job-id=${retried}`, '--run=2', '--json'], { env: env(), cwd });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const root = join(cwd, 'qgjob-artifacts', retried);
    expect(doc).toEqual({
      job_id: retried,
      dir: root,
      files: [
        {
          run: 2,
          name: 'login-spec/trace.zip',
          path: join(root, 'run-2', 'login-spec', 'trace.zip'),
          size: TRACE.length,
          sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        },
      ],
    });
    expect(existsSync(join(root, 'run-1'))).toBe(false);
    expect(readFileSync(doc.files[0].path).equals(TRACE)).toBe(true);

    const missing = await runCli(['artifacts', `--job-id=${retried}`, '--run=7'], { env: env(), cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/has no run 7 \(its runs: 1, 2\)/);
  });

  it('says so when a job has no files, and exits 2 for an unknown job or a bad flag', async () => {
    const none = await runCli(['artifacts', `--job-id=${bare}`, `--dir=${join(dir, 'none')}`], { env: env() });
    expect(none).toMatchObject({ code: 0, stdout: '' });
    expect(none.stderr).toBe(`job ${bare} has no artifacts\n`);
    const json = await runCli(['artifacts', `--job-id=${bare}`, `--dir=${join(dir, 'none')}`, '--json'], {
      env: env(),
    });
    expect(JSON.parse(json.stdout)).toMatchObject({ job_id: bare, files: [] });

    const unknown = await runCli(['artifacts', '--job-id=job_nope'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no job with id job_nope/);
    expect((await runCli(['artifacts'], { env: env() })).stderr).toMatch(/--job-id is required/);
    expect((await runCli(['artifacts', `--job-id=${bare}`, '--run=0'], { env: env() })).code).toBe(2);
    const help = await runCli(['artifacts', '--help']);
    expect(help.stdout).toMatch(/qgjob artifacts --job-id=job_123 --run=2/);
  });

  it('refuses names, sizes and links that would put a file anywhere but DIR, writing nothing', async () => {
    const jobId = await jobWithRuns('tests/hostile.spec.js', 1, () => ({ 'ok.txt': Buffer.from('ok') }));
    // A store holding names the API refuses: the CLI must not trust the listing.
    await server.store.db.query(
      `INSERT INTO run_artifacts (job_id, run_n, name, org_id, sha256, size, content_type)
       SELECT job_id, run_n, '../../escaped.txt', org_id, sha256, size, content_type FROM run_artifacts WHERE job_id = $1`,
      [jobId],
    );
    const out = join(dir, 'hostile');
    const r = await runCli(['artifacts', `--job-id=${jobId}`, `--dir=${out}`], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refusing artifact names that would be written outside .*"\.\.\/\.\.\/escaped\.txt"/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
    await server.store.db.query(`DELETE FROM run_artifacts WHERE job_id = $1 AND name <> 'ok.txt'`, [jobId]);

    // A directory on the way that leads elsewhere.
    const linked = join(dir, 'linked');
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(linked);
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(linked, 'run-1'));
    const viaLink = await runCli(['artifacts', `--job-id=${jobId}`, `--dir=${linked}`], { env: env() });
    expect(viaLink.code).toBe(3);
    expect(viaLink.stderr).toMatch(/leads outside/);
    expect(readdirSync(elsewhere)).toEqual([]);

    // Bytes that do not match the listing are not kept.
    await server.store.db.query(`UPDATE run_artifacts SET size = size + 1 WHERE job_id = $1`, [jobId]);
    const wrong = join(dir, 'wrong');
    const mismatch = await runCli(['artifacts', `--job-id=${jobId}`, `--dir=${wrong}`], { env: env() });
    expect(mismatch.code).toBe(3);
    expect(mismatch.stderr).toMatch(/arrived as 2 bytes .* not the 3 bytes/);
    expect(readdirSync(join(wrong, 'run-1'))).toEqual([]);
  });
});

describe('qgjob status lists the files', () => {
  it('shows each run’s files with the command that downloads them; --json carries runs[].artifacts', async () => {
    const r = await runCli(['status', `--job-id=${retried}`], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`artifacts (download with: qgjob artifacts --job-id=${retried})`);
    expect(r.stdout).toMatch(
      /RUN\s+NAME\s+SIZE\n1\s+login-spec\/test-failed-1\.png\s+\d+ B\n1\s+login-spec\/trace\.zip/,
    );
    const json = JSON.parse((await runCli(['status', `--job-id=${retried}`, '--json'], { env: env() })).stdout);
    expect(json.runs.map((run: { artifacts: { name: string }[] }) => run.artifacts.map((a) => a.name))).toEqual([
      ['login-spec/test-failed-1.png', 'login-spec/trace.zip'],
      ['login-spec/trace.zip'],
    ]);
    const plain = await runCli(['status', `--job-id=${bare}`], { env: env() });
    expect(plain.stdout).not.toContain('artifacts');
  });
});
