/**
 * An interrupted `submit --wait` / `wait`, as a process against the stand-in server: with
 * --cancel-on-interrupt or in GitHub Actions the first signal cancels the unfinished jobs
 * (bounded in time) and exits 130, a second one exits at once; otherwise the jobs keep running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TSX } from '../../../tests/helpers/process.js';
import { cancelMessage } from '../src/commands/interrupt.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.tests.json', import.meta.url));

let server: FakeServer;
let dir: string;
let n = 0;

beforeAll(async () => {
  server = await startFakeServer();
  dir = mkdtempSync(join(tmpdir(), 'qgjob-cli-interrupt-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  server.cancelDelayMs = 0;
});

interface Running {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>;
}

/** The CLI from its sources, as tests/helpers/cli.ts runs it, but left running for signals. */
function start(args: string[], env: Record<string, string> = {}): Running {
  const base: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG };
  for (const name of [
    'NO_COLOR',
    'FORCE_COLOR',
    'QGJOB_TOKEN',
    'GITHUB_ACTIONS',
    'GITHUB_STEP_SUMMARY',
    'GITHUB_OUTPUT',
  ])
    delete base[name];
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    env: { ...base, QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '20', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  let signalledAt = 0;
  const kill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    signalledAt ||= Date.now();
    return kill(signal);
  };
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - signalledAt }));
  });
  return { child, stderr: () => stderr, exited };
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const jobsOf = (app: string) => [...server.jobs.values()].filter((job) => job.app_version_id === app);

/** submit --wait of two never-ending tests and one that passes, once the passing one passed. */
async function startWaiting(app: string, extra: string[], env: Record<string, string> = {}): Promise<Running> {
  const tests = ['--test=tests/slow-a.spec.js', '--test=tests/slow-b.spec.js', '--test=tests/ok.spec.js'];
  const cli = start(
    ['submit', '--org-id=qualgent', `--app-version-id=${app}`, ...tests, '--no-bundle', '--wait', ...extra],
    env,
  );
  await until('the jobs to run', () => {
    const jobs = jobsOf(app);
    return (
      jobs.length === 3 &&
      jobs.filter((job) => job.status === 'running').length === 2 &&
      jobs.some((job) => job.status === 'passed')
    );
  });
  return cli;
}

describe('interrupting a wait', () => {
  it('--cancel-on-interrupt: Ctrl-C cancels the unfinished jobs, names the finished one, exits 130', async () => {
    const cli = await startWaiting('int1', ['--cancel-on-interrupt']);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    const jobs = jobsOf('int1');
    const ok = jobs.find((job) => job.test_path === 'tests/ok.spec.js');
    expect(jobs.map((job) => job.status).sort()).toEqual(['cancelled', 'cancelled', 'passed']);
    const sub = jobs[0]?.submission_id;
    expect(r.stderr).toContain('interrupted: cancelling 2 unfinished jobs…\n');
    expect(r.stderr).toMatch(
      new RegExp(
        `error: interrupted: cancelled 2 of 3 jobs of submission ${sub}; 1 had already finished \\(${ok?.id} passed\\)\\n$`,
      ),
    );
    expect(r.stderr).not.toContain('::');
  });

  it('in GitHub Actions, SIGTERM cancels too: a ::warning, the outputs written, exit 130', async () => {
    const outputFile = join(dir, `output-${++n}`);
    const summaryFile = join(dir, `summary-${n}.md`);
    writeFileSync(outputFile, '');
    writeFileSync(summaryFile, '');
    const github = { GITHUB_ACTIONS: 'true', GITHUB_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile };
    const cli = await startWaiting('int2', [], github);
    cli.child.kill('SIGTERM');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(jobsOf('int2').filter((job) => job.status === 'cancelled')).toHaveLength(2);
    expect(r.stderr).toMatch(
      /^::warning title=qgjob cancelled::The run was cancelled: qgjob interrupted: cancelled 2 of 3 jobs of submission sub_\d+; 1 had already finished/m,
    );
    const outputs = readFileSync(outputFile, 'utf8');
    expect(outputs).toMatch(/^submission-id=sub_\d+$/m);
    expect(outputs).toContain('passed=1\n');
    expect(outputs).toContain('cancelled=2\n');
    expect(outputs).toContain('unfinished=0\n');
    expect(readFileSync(summaryFile, 'utf8')).toMatch(/^### ❌ qgjob: 1 passed, 2 cancelled/);
  });

  it('the cancel is bounded: jobs it cannot reach in time are named, and the CLI still exits 130', async () => {
    const cli = await startWaiting('int3', ['--cancel-on-interrupt']);
    server.cancelDelayMs = 10_000;
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(r.ms).toBeLessThan(8000);
    expect(r.stderr).toMatch(
      /error: interrupted: cancelled 0 of 3 jobs of submission sub_\d+; 1 had already finished \(job_\d+ passed\); could not cancel 2 \(job_\d+, job_\d+: no answer within 4s\), which keep running — cancel them with 'qgjob cancel --job-id=job_\d+' \(and the others\)\n$/,
    );
  });

  it('a second signal exits at once, without waiting for the cancel', async () => {
    const cli = await startWaiting('int4', ['--cancel-on-interrupt']);
    server.cancelDelayMs = 10_000;
    cli.child.kill('SIGTERM');
    await until('the cancel to start', () => cli.stderr().includes('cancelling 2 unfinished jobs'));
    const second = Date.now();
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(Date.now() - second).toBeLessThan(2000);
    expect(r.stderr).toContain('SIGINT during the cancel: exiting at once; jobs not yet cancelled keep running\n');
  });

  it('without the flag outside CI, Ctrl-C leaves the jobs running and says how to follow or cancel them', async () => {
    const cli = await startWaiting('int5', []);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(jobsOf('int5').filter((job) => job.status === 'running')).toHaveLength(2);
    expect(r.stderr).toMatch(
      /error: interrupted — the jobs keep running on the server — follow them with 'qgjob wait --submission-id=sub_\d+', cancel one with 'qgjob cancel --job-id=job_\d+', or pass --cancel-on-interrupt to cancel them on Ctrl-C\n$/,
    );
  });

  it('in GitHub Actions, --no-cancel-on-interrupt leaves them running with a ::warning', async () => {
    const cli = await startWaiting('int6', ['--no-cancel-on-interrupt'], { GITHUB_ACTIONS: 'true' });
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(jobsOf('int6').filter((job) => job.status === 'running')).toHaveLength(2);
    expect(r.stderr).toMatch(
      /^::warning title=qgjob interrupted::interrupted — the jobs keep running on the server \(--no-cancel-on-interrupt\)/m,
    );
  });

  it('wait --job-id --cancel-on-interrupt cancels the jobs it waits for', async () => {
    const submitted = start([
      'submit',
      '--org-id=qualgent',
      '--app-version-id=int7',
      '--test=tests/slow-c.spec.js',
      '--no-bundle',
      '--json',
    ]);
    const id = JSON.parse((await submitted.exited).stdout).jobs[0].id as string;
    const cli = start(['wait', `--job-id=${id}`, '--cancel-on-interrupt']);
    await until('the job to run', () => server.jobs.get(id)?.status === 'running');
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(server.jobs.get(id)?.status).toBe('cancelled');
    expect(r.stderr).toMatch(/error: interrupted: cancelled 1 of 1 job\n$/);
  });
});

describe('cancelMessage', () => {
  it('says when there was nothing to cancel', () => {
    const outcome = { cancelled: [], finished: [{ id: 'job_1', status: 'passed' }], failed: [], jobs: [] };
    expect(cancelMessage(outcome, { submissionId: 'sub_1', followCommand: '' })).toBe(
      'nothing to cancel: every job of submission sub_1 had already finished',
    );
  });

  it('names at most 10 finished jobs', () => {
    const finished = Array.from({ length: 12 }, (_, i) => ({ id: `job_${i}`, status: 'failed' }));
    const text = cancelMessage({ cancelled: ['job_x'], finished, failed: [], jobs: [] }, { followCommand: '' });
    expect(text).toMatch(
      /^cancelled 1 of 13 jobs; 12 had already finished \(job_0 failed, .*job_9 failed and 2 more\)$/,
    );
  });
});
