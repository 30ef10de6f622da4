import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, JobSummary, Run } from '@qgjob/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import {
  annotationLines,
  codeCell,
  escapeData,
  escapeProperty,
  gitHubFromEnv,
  groupedProgress,
  markdownCell,
  outputText,
  type Report,
  reportToGitHub,
  summaryMarkdown,
  timeoutAnnotation,
} from '../src/github.js';
import type { Progress } from '../src/progress.js';
import { jobOf, runOf } from './fixtures.js';

const run = (n: number, overrides: Partial<Run> = {}): Run =>
  runOf(n, { device: 'e1', app_installed: false, ...overrides });
const job = (id: string, overrides: Partial<Job> = {}): Job => jobOf(id, { runs: [run(1)], ...overrides });

function report(jobs: Job[], overrides: Partial<Report> = {}): Report {
  return {
    jobs,
    submissionId: 'sub_1',
    servers: ['http://localhost:8080'],
    elapsedMs: 12_300,
    timedOut: false,
    junit: undefined,
    ...overrides,
  };
}

const failed = job('checkout', {
  status: 'failed',
  error: 'expected <Pay> to be visible\n    at tests/checkout.spec.js:12',
  runs: [run(1, { status: 'failed', device: 'e2', app_installed: true, duration_ms: 4200, error: 'expected' })],
});

describe('gitHubFromEnv', () => {
  it('is off unless GITHUB_ACTIONS is exactly "true"', () => {
    expect(gitHubFromEnv({})).toBeUndefined();
    expect(gitHubFromEnv({ GITHUB_ACTIONS: '' })).toBeUndefined();
    expect(gitHubFromEnv({ GITHUB_ACTIONS: '1' })).toBeUndefined();
    expect(gitHubFromEnv({ GITHUB_ACTIONS: 'true' })).toEqual({ summaryFile: undefined, outputFile: undefined });
    expect(gitHubFromEnv({ GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: '/tmp/s', GITHUB_OUTPUT: '/tmp/o' })).toEqual({
      summaryFile: '/tmp/s',
      outputFile: '/tmp/o',
    });
  });
});

describe('workflow command escaping', () => {
  it('escapes %, CR and LF in messages', () => {
    expect(escapeData('100% done\r\nnext: a, b')).toBe('100%25 done%0D%0Anext: a, b');
  });
  it('also escapes : and , in properties', () => {
    expect(escapeProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
  });
});

describe('annotationLines', () => {
  it('annotates failed, errored and cancelled jobs with the first line of the error', () => {
    const lines = annotationLines([
      job('ok'),
      failed,
      job('infra', { status: 'errored', error: null, runs: [run(1, { status: 'errored', error: 'adb: no device' })] }),
      job('gone', { status: 'cancelled', runs: [] }),
    ]);
    expect(lines).toEqual([
      '::error file=tests/checkout.spec.js,line=12,title=qgjob failed::tests/checkout.spec.js failed on emulator/e2 (xyz123): expected <Pay> to be visible',
      '::error file=tests/infra.spec.js,title=qgjob errored::tests/infra.spec.js errored on emulator/e1 (xyz123): adb: no device',
      '::error file=tests/gone.spec.js,title=qgjob cancelled::tests/gone.spec.js cancelled on emulator (xyz123)',
    ]);
  });

  it("points a failed test's annotation at the failing line the agent reported", () => {
    const error = 'Error: expect(received).toBe(expected)\n\nExpected: 2\n    at tests/helpers/cart.js:10:7';
    const [line] = annotationLines([job('x', { status: 'failed', test_path: 'tests/checkout.spec.js', error })]);
    expect(line).toBe(
      '::error file=tests/helpers/cart.js,line=10,col=7,title=qgjob failed::tests/checkout.spec.js failed on emulator/e1 (xyz123): Error: expect(received).toBe(expected)',
    );
  });

  it('escapes paths and messages', () => {
    const [line] = annotationLines([
      job('x', { status: 'failed', test_path: 'tests/a,b:c%.spec.js', error: '50% off: no', app_version_id: 'bs://1' }),
    ]);
    expect(line).toBe(
      '::error file=tests/a%2Cb%3Ac%25.spec.js,title=qgjob failed::tests/a,b:c%25.spec.js failed on emulator/e1 (bs://1): 50%25 off: no',
    );
  });

  it('stops at 10 and points at the summary for the rest', () => {
    const jobs = Array.from({ length: 13 }, (_, i) => job(`t${i}`, { status: 'failed' }));
    const lines = annotationLines(jobs);
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('::error::3 more failed tests: see the job summary');
  });

  it('says nothing when everything passed', () => {
    expect(annotationLines([job('a'), job('b', { flaky: true })])).toEqual([]);
  });
});

describe('groupedProgress', () => {
  it('opens the group at the first update with the job count and closes it on stop', () => {
    const out: string[] = [];
    const calls: string[] = [];
    const inner: Progress = {
      update: (jobs) => calls.push(`update ${jobs.length}`),
      trouble: () => calls.push('trouble'),
      stop: () => calls.push('stop'),
    };
    const progress = groupedProgress(inner, (text) => out.push(text));
    const jobs: JobSummary[] = [job('a'), job('b')];
    progress.update(jobs, 0);
    progress.update(jobs, 10);
    progress.trouble(new Error('x'));
    progress.stop();
    expect(out).toEqual(['::group::qgjob: waiting for 2 jobs\n', '::endgroup::\n']);
    expect(calls).toEqual(['update 2', 'update 2', 'trouble', 'stop']);
  });

  it('writes no endgroup when no poll succeeded', () => {
    const out: string[] = [];
    const progress = groupedProgress({ update() {}, trouble() {}, stop() {} }, (text) => out.push(text));
    progress.stop();
    expect(out).toEqual([]);
  });

  it('says "1 job"', () => {
    const out: string[] = [];
    groupedProgress({ update() {}, trouble() {}, stop() {} }, (text) => out.push(text)).update([job('a')], 0);
    expect(out).toEqual(['::group::qgjob: waiting for 1 job\n']);
  });
});

describe('summaryMarkdown', () => {
  it('heads with the tally, lists facts and puts failed rows first', () => {
    const flaky = job('flaky', {
      flaky: true,
      attempts: 2,
      runs: [
        run(1, { status: 'failed', app_installed: true, batch_id: 'b1' }),
        run(2, { device: 'e3', duration_ms: 900 }),
      ],
    });
    const md = summaryMarkdown(report([job('login', { runs: [run(1, { app_installed: true })] }), flaky, failed]));
    expect(md).toBe(
      [
        '### ❌ qgjob: 2 passed, 1 failed',
        '',
        'Submission `sub_1` · server http://localhost:8080 · 12.3s wall time · 3 app installs for 4 runs (1 saved)',
        '',
        '| Test | Target | Device | Status | Duration | Retries | App installed |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        '| `tests/checkout.spec.js` | emulator | `e2` | ❌ failed | 4.2s | 0 | yes |',
        '| `tests/login.spec.js` | emulator | `e1` | ✅ passed | 2.0s | 0 | yes |',
        '| `tests/flaky.spec.js` | emulator | `e3` | ⚠️ passed (flaky) | 900ms | 1 | no |',
        '',
        '<details><summary>Errors</summary>',
        '',
        '- `tests/checkout.spec.js` failed: expected \\<Pay\\> to be visible',
        '',
        '</details>',
        '',
        '',
      ].join('\n'),
    );
  });

  it('is green when every job passed, and names the submissions of `wait --job-id`', () => {
    const md = summaryMarkdown(
      report([job('a'), job('b', { submission_id: 'sub_2' })], {
        submissionId: undefined,
        servers: ['http://user:secret@a:8080', 'http://b:8080'],
      }),
    );
    expect(md).toMatch(/^### ✅ qgjob: 2 passed\n/);
    expect(md).toContain('Submissions `sub_1`, `sub_2` · server http://a:8080, http://b:8080 ·');
    expect(md).not.toContain('secret');
    expect(md).toContain('0 app installs for 2 runs (2 saved)');
  });

  it('escapes | and keeps each row on one line', () => {
    const md = summaryMarkdown(
      report([job('x', { test_path: 'tests/a|b.spec.js', runs: [run(1, { device: 'e\n1' })] })]),
    );
    expect(md).toContain('| `tests/a\\|b.spec.js` | emulator | `e 1` | ✅ passed |');
  });

  it('reports a timeout and unfinished jobs', () => {
    const md = summaryMarkdown(
      report([job('a'), job('slow', { status: 'running', runs: [run(1, { status: 'running', duration_ms: null })] })], {
        timedOut: true,
      }),
    );
    expect(md).toMatch(/^### ❌ qgjob: 1 passed, 1 unfinished\n/);
    expect(md).toContain('⏱️ --timeout elapsed with 1 job unfinished; they keep running on the server.');
    expect(md).toContain('| `tests/slow.spec.js` | emulator | `e1` | ⏳ running (unfinished) | - | 0 | no |');
  });

  it('works from job summaries without runs', () => {
    const { runs: _, ...summary } = job('a', { attempts: 2 });
    const md = summaryMarkdown(report([summary as Job]));
    expect(md).toContain('| `tests/a.spec.js` | emulator | - | ✅ passed | - | 1 | - |');
    expect(md).not.toContain('app install');
  });
});

describe('cells', () => {
  it('escapes Markdown in text and picks a longer fence for backticks in code', () => {
    expect(markdownCell('a_b *c* <d>|e\nf')).toBe('a\\_b \\*c\\* \\<d\\>\\|e f');
    expect(codeCell('a`b')).toBe('``a`b``');
    expect(codeCell('`a')).toBe('`` `a ``');
  });
});

describe('outputText', () => {
  it('writes the counts, the submission and the JUnit path', () => {
    expect(outputText(report([job('a'), failed], { junit: 'out/junit.xml' }))).toBe(
      [
        'submission-id=sub_1',
        'passed=1',
        'failed=1',
        'errored=0',
        'cancelled=0',
        'unfinished=0',
        'total=2',
        'timed-out=false',
        'junit=out/junit.xml',
        '',
      ].join('\n'),
    );
  });

  it('writes no submission-id when none is known, and leaves junit empty when there is none', () => {
    const text = outputText(report([], { submissionId: undefined, timedOut: true }));
    expect(text).not.toContain('submission-id');
    expect(text).toContain('total=0\n');
    expect(text).toContain('timed-out=true\n');
    expect(text).toContain('junit=\n');
  });

  it('names the submission of `wait --job-id` when every job belongs to it, and none for several', () => {
    const one = [job('a', { submission_id: 'sub_7' }), job('b', { submission_id: 'sub_7' })];
    expect(outputText(report(one, { submissionId: undefined }))).toMatch(/^submission-id=sub_7\npassed=2\n/);
    const two = [job('a', { submission_id: 'sub_7' }), job('b', { submission_id: 'sub_8' })];
    expect(outputText(report(two, { submissionId: undefined }))).toMatch(/^passed=2\n/);
  });

  it('uses the multi-line form for a value with a line break', () => {
    expect(outputText(report([], { junit: 'a\nb' }))).toContain(
      'junit<<ghadelimiter_qgjob\na\nb\nghadelimiter_qgjob\n',
    );
  });
});

describe('reportToGitHub', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qgjob-gh-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes annotations and appends to the summary and output files', async () => {
    const summaryFile = join(dir, 'summary.md');
    const outputFile = join(dir, 'output');
    writeFileSync(summaryFile, '# earlier step\n');
    writeFileSync(outputFile, 'other=1\n');
    const out: string[] = [];
    await reportToGitHub({ summaryFile, outputFile }, report([job('a'), failed]), (text) => out.push(text));
    expect(out.join('')).toMatch(/^::error file=tests\/checkout\.spec\.js,line=12,title=qgjob failed::.*\n$/);
    expect(readFileSync(summaryFile, 'utf8')).toMatch(/^# earlier step\n### ❌ qgjob: 1 passed, 1 failed\n/);
    expect(readFileSync(outputFile, 'utf8')).toMatch(/^other=1\nsubmission-id=sub_1\npassed=1\nfailed=1\n/);
  });

  it('annotates an elapsed --timeout with an ::error naming how to follow the jobs', async () => {
    const out: string[] = [];
    const slow = job('slow', { status: 'running', runs: [run(1, { status: 'running', duration_ms: null })] });
    await reportToGitHub(
      { summaryFile: undefined, outputFile: undefined },
      report([job('a'), slow], {
        timedOut: true,
        timeoutMs: 30 * 60_000,
        followCommand: 'qgjob wait --submission-id=sub_1',
      }),
      (text) => out.push(text),
    );
    expect(out.join('')).toBe(
      "::error title=qgjob timed out::--timeout of 30m00s elapsed with 1 of 2 jobs unfinished: they keep running on the server; follow them with 'qgjob wait --submission-id=sub_1'\n",
    );
    expect(timeoutAnnotation(report([job('a')]))).toBeUndefined();
  });

  it('turns a file it cannot write into a warning', async () => {
    const out: string[] = [];
    await reportToGitHub(
      { summaryFile: join(dir, 'missing', 'summary.md'), outputFile: undefined },
      report([job('a')]),
      (text) => out.push(text),
    );
    expect(out.join('')).toMatch(/^::warning::qgjob could not write the job summary to .*missing.*\n$/);
  });
});
