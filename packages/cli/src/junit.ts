/**
 * JUnit XML for CI dashboards: one <testsuite> per submission, one <testcase> per job named
 * by its test path with classname `<target>.<app_version_id>`. Failed jobs get <failure>,
 * errored jobs <error>; cancelled and unfinished jobs are <skipped> (the exit code already
 * fails the build for them). Each run is listed in <system-out> so retries stay visible.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type FailureLocation, failureLocation, type JobSummary, type Run } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import { UsageError } from './errors.js';

export type JunitJob = JobSummary & { runs?: readonly Run[] };

export interface JunitSuite {
  name: string;
  jobs: readonly JunitJob[];
}

// XML 1.0 forbids most control characters even when escaped.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
const INVALID_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeXml(text: string): string {
  return text
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function span(start: string | null, end: string | null): number {
  if (!start || !end) return 0;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function runMs(run: Run): number {
  return run.duration_ms ?? span(run.started_at, run.finished_at);
}

/** Time spent running the job: the sum of its runs, or its start-to-finish span without runs. */
export function jobMs(job: JunitJob): number {
  if (job.runs && job.runs.length > 0) return job.runs.reduce((sum, run) => sum + runMs(run), 0);
  return span(job.started_at, job.finished_at);
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function runLine(run: Run): string {
  const where = [
    run.device ? `device ${run.device}` : undefined,
    run.agent ? `agent ${run.agent}` : undefined,
    run.batch_id ? `batch ${run.batch_id}` : undefined,
    run.app_installed ? 'installed the app' : 'reused the app install',
  ].filter(Boolean);
  const error = run.error ? `: ${run.error}` : '';
  return `run ${run.n} ${run.status} in ${formatDuration(runMs(run))} (${where.join(', ')})${error}`;
}

/** The job's error, or else the error of its latest run that has one. */
export function lastError(job: JunitJob): string | undefined {
  if (job.error) return job.error;
  const runs = job.runs ?? [];
  for (let i = runs.length - 1; i >= 0; i--) {
    const error = runs[i]?.error;
    if (error) return error;
  }
  return undefined;
}

/** Where a failure happened, from the `at FILE:LINE:COL` line the agent puts under a test's message. */
export function errorLocation(job: JunitJob): FailureLocation | undefined {
  return failureLocation(lastError(job));
}

function testcase(job: JunitJob): string {
  const at = job.status === 'failed' ? errorLocation(job) : undefined;
  const where = at ? ` file="${escapeXml(at.file)}" line="${at.line}"` : '';
  const attrs = `name="${escapeXml(job.test_path)}" classname="${escapeXml(`${job.target}.${job.app_version_id}`)}" time="${seconds(jobMs(job))}"${where}`;
  const runs = job.runs ?? [];
  const flaky = job.flaky ? ' (flaky: passed on a retry)' : '';
  const head = `job ${job.id}, ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}${flaky}`;
  const details = [head, ...runs.map(runLine)].join('\n');
  const inner: string[] = [];
  const message = lastError(job);
  if (job.status === 'failed') {
    inner.push(
      `<failure message="${escapeXml(message ?? 'test failed')}" type="failed">${escapeXml(details)}</failure>`,
    );
  } else if (job.status === 'errored') {
    inner.push(
      `<error message="${escapeXml(message ?? 'infrastructure error')}" type="errored">${escapeXml(details)}</error>`,
    );
  } else if (job.status === 'cancelled') {
    inner.push('<skipped message="cancelled"/>');
  } else if (job.status !== 'passed') {
    inner.push(`<skipped message="${escapeXml(`not finished before --timeout (${job.status})`)}"/>`);
  }
  inner.push(`<system-out>${escapeXml(details)}</system-out>`);
  return `    <testcase ${attrs}>\n${inner.map((line) => `      ${line}`).join('\n')}\n    </testcase>`;
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  ms: number;
}

function countsOf(jobs: readonly JunitJob[]): Counts {
  const c: Counts = { tests: jobs.length, failures: 0, errors: 0, skipped: 0, ms: 0 };
  for (const job of jobs) {
    if (job.status === 'failed') c.failures++;
    else if (job.status === 'errored') c.errors++;
    else if (job.status !== 'passed') c.skipped++;
    c.ms += jobMs(job);
  }
  return c;
}

function countAttrs(c: Counts): string {
  return `tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}" time="${seconds(c.ms)}"`;
}

export function junitXml(suites: readonly JunitSuite[]): string {
  const total = countsOf(suites.flatMap((s) => s.jobs));
  const body = suites.map((suite) => {
    const cases = suite.jobs.map(testcase).join('\n');
    const open = `  <testsuite name="${escapeXml(suite.name)}" ${countAttrs(countsOf(suite.jobs))}>`;
    return cases ? `${open}\n${cases}\n  </testsuite>` : `${open}</testsuite>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="qgjob" ${countAttrs(total)}>`,
    ...body,
    '</testsuites>',
    '',
  ].join('\n');
}

/** Groups jobs into one suite per submission, in order of first appearance. */
export function suitesBySubmission(jobs: readonly JunitJob[]): JunitSuite[] {
  const bySubmission = new Map<string, JunitJob[]>();
  for (const job of jobs) {
    const list = bySubmission.get(job.submission_id) ?? [];
    list.push(job);
    bySubmission.set(job.submission_id, list);
  }
  return [...bySubmission].map(([name, list]) => ({ name, jobs: list }));
}

export async function writeJunit(path: string, suites: readonly JunitSuite[]): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, junitXml(suites), 'utf8');
  } catch (error) {
    throw new UsageError(`--junit cannot write ${path}: ${(error as Error).message}`, {
      cause: error,
      hint: 'check that the directory exists and is writable',
    });
  }
}
