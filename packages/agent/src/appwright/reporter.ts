/**
 * A Playwright reporter the agent adds beside the list reporter (`--reporter=list,<this
 * file>`). It writes one JSON document (the RunReport of report.ts) to
 * $QGJOB_REPORT_FILE when the run ends: per test its status, its first error with
 * location, the step that error came from (so a failure while AppWright's `device` fixture
 * sets up tells apart from a failed assertion) and its attachments; plus errors outside
 * any test (config, global setup).
 *
 * It runs inside Playwright's runner process, loaded by path: it imports nothing but
 * Node's own modules and declares the few Playwright types it reads.
 */
import { writeFileSync } from 'node:fs';

interface Location {
  file: string;
  line: number;
  column: number;
}
interface PwError {
  message?: string;
  stack?: string;
  value?: string;
  location?: Location;
}
interface PwStep {
  title: string;
  category: string;
  parent?: PwStep;
  error?: PwError;
}
interface PwTest {
  id: string;
  title: string;
  location: Location;
  titlePath(): string[];
}
interface PwResult {
  status: string;
  duration: number;
  retry: number;
  errors: PwError[];
  attachments: Array<{ name: string; path?: string; contentType: string }>;
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const clean = (text: string | undefined) => text?.replace(ANSI, '');

function error(e: PwError | undefined) {
  if (!e) return undefined;
  return { message: clean(e.message ?? e.value) ?? 'unknown error', stack: clean(e.stack), location: e.location };
}

function stepPath(step: PwStep): Array<{ title: string; category: string }> {
  const path: Array<{ title: string; category: string }> = [];
  for (let s: PwStep | undefined = step; s; s = s.parent) path.unshift({ title: s.title, category: s.category });
  return path;
}

export default class QgjobReporter {
  private readonly tests = new Map<string, Record<string, unknown>>();
  /** The step each test's first error was thrown in (the innermost failing step seen first). */
  private readonly failedStep = new Map<string, Array<{ title: string; category: string }>>();
  private readonly errors: unknown[] = [];

  printsToStdio(): boolean {
    return false;
  }

  onStepEnd(test: PwTest, _result: PwResult, step: PwStep): void {
    if (step.error && !this.failedStep.has(test.id)) this.failedStep.set(test.id, stepPath(step));
  }

  onTestEnd(test: PwTest, result: PwResult): void {
    this.tests.set(`${test.id}#${result.retry}`, {
      title: test.titlePath().filter(Boolean).slice(-1)[0] ?? test.title,
      location: test.location,
      status: result.status,
      duration_ms: result.duration,
      error: error(result.errors[0]),
      error_count: result.errors.length,
      failed_in: this.failedStep.get(test.id) ?? null,
      attachments: result.attachments
        .filter((a) => a.path)
        .map((a) => ({ name: a.name, path: a.path, content_type: a.contentType })),
    });
    this.failedStep.delete(test.id);
  }

  onError(e: PwError): void {
    this.errors.push(error(e));
  }

  onEnd(result: { status: string }): void {
    const file = process.env.QGJOB_REPORT_FILE;
    if (!file) return;
    const report = { status: result.status, tests: [...this.tests.values()], errors: this.errors };
    writeFileSync(file, JSON.stringify(report));
  }
}
