/**
 * From what happened to a verdict, not from the exit code: `npx appwright test` exits 1 for
 * a failed assertion and for a device that could not be reached alike. The reporter
 * (reporter.ts) says which step each test failed in:
 *
 * - an error while one of AppWright's own fixtures (`device`, `deviceProvider`,
 *   `saveVideo`) set up or tore down — no session, Appium down, device gone — or an error
 *   outside any test (global setup, config) → `errored`: infrastructure, retried on another
 *   device within the job's budget;
 * - an error in the test body or the user's own hooks → `failed`, with the test's message and
 *   location (`… at tests/login.spec.js:12:5`);
 * - "No tests found": the test path matches no test → `failed` (another device finds none
 *   either);
 * - no report at all (Playwright never got to its reporters: a broken config, a crash) →
 *   `errored` with the end of the output.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import type { FinishStatus } from '@qgjob/protocol';

interface Location {
  file: string;
  line: number;
  column: number;
}

export interface ReportedError {
  message: string;
  stack?: string;
  location?: Location;
}

export interface ReportedTest {
  title: string;
  location: Location;
  /** Playwright's: passed, failed, timedOut, skipped, interrupted. */
  status: string;
  duration_ms: number;
  error?: ReportedError;
  error_count: number;
  /** Outermost first: the steps the first error was thrown in. */
  failed_in: Array<{ title: string; category: string }> | null;
  attachments: Array<{ name: string; path: string; content_type: string }>;
}

export interface RunReport {
  status: string;
  tests: ReportedTest[];
  errors: ReportedError[];
}

export interface Verdict {
  status: FinishStatus;
  error?: string;
}

const APPWRIGHT_FIXTURE = /^(?:Fixture "|fixture: ?)(device|deviceProvider|saveVideo)"?$/;
const MESSAGE_LINES = 20;

export async function readReport(file: string): Promise<RunReport | undefined> {
  try {
    const report = JSON.parse(await readFile(file, 'utf8')) as RunReport;
    return Array.isArray(report.tests) && Array.isArray(report.errors) ? report : undefined;
  } catch {
    return undefined;
  }
}

/** The AppWright fixture a test's first error came from, if it did. */
export function failedFixture(test: ReportedTest): string | undefined {
  for (const step of test.failed_in ?? []) {
    const name = step.category === 'fixture' ? APPWRIGHT_FIXTURE.exec(step.title)?.[1] : undefined;
    if (name) return name;
  }
  return undefined;
}

export function verdictOf(report: RunReport, workdir: string): Verdict {
  const infra = report.tests.find((t) => t.status !== 'passed' && t.status !== 'skipped' && failedFixture(t));
  if (infra) {
    return {
      status: 'errored',
      error: `AppWright's ${failedFixture(infra)} fixture failed, so the test never ran: ${firstLines(infra.error?.message)}`,
    };
  }
  const failures = report.tests.filter((t) => t.status === 'failed' || t.status === 'timedOut');
  const [first] = failures;
  if (first) {
    const more = failures.length > 1 ? `\n(${failures.length - 1} more failed test(s) in this file)` : '';
    const title = report.tests.length > 1 ? `${first.title}: ` : '';
    const where = first.error?.location ?? first.location;
    const message = first.error ? firstLines(first.error.message) : `test ${first.status}`;
    return { status: 'failed', error: `${title}${message}\n    at ${relativeTo(workdir, where)}${more}` };
  }
  const [global] = report.errors;
  if (global) {
    if (/No tests found/i.test(global.message)) return { status: 'failed', error: firstLines(global.message) };
    return { status: 'errored', error: `AppWright could not run the test: ${firstLines(global.message)}` };
  }
  if (report.tests.some((t) => t.status === 'interrupted') || report.status === 'interrupted') {
    return { status: 'errored', error: 'the test run was interrupted' };
  }
  if (report.tests.length === 0) return { status: 'failed', error: 'No tests found in this test path' };
  return { status: 'passed' };
}

export function relativeTo(workdir: string, location: Location): string {
  const file = isAbsolute(location.file) ? relative(workdir, location.file) : location.file;
  return `${file.split('\\').join('/')}:${location.line}:${location.column}`;
}

function firstLines(message: string | undefined): string {
  const lines = (message ?? 'unknown error').trim().split('\n');
  return lines.length > MESSAGE_LINES
    ? `${lines.slice(0, MESSAGE_LINES).join('\n')}\n[… ${lines.length - MESSAGE_LINES} more lines]`
    : lines.join('\n');
}
