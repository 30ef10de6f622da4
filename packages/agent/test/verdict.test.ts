import { describe, expect, it } from 'vitest';
import { type ReportedTest, type RunReport, verdictOf } from '../src/appwright/verdict.js';

const at = (line: number) => ({ file: '/work/tests/login.spec.js', line, column: 5 });
const test = (over: Partial<ReportedTest>): ReportedTest => ({
  title: 'logs in',
  location: at(3),
  status: 'passed',
  duration_ms: 10,
  error_count: 0,
  failed_in: null,
  attachments: [],
  ...over,
});
const report = (tests: ReportedTest[], errors: RunReport['errors'] = []): RunReport => ({
  status: 'failed',
  tests,
  errors,
});

describe('verdictOf', () => {
  it('is passed when every test passed or was skipped', () => {
    expect(verdictOf(report([test({}), test({ status: 'skipped' })]), '/work')).toEqual({ status: 'passed' });
  });

  it('is failed for an error in the test body, with its message and location relative to the workdir', () => {
    const failed = test({
      status: 'failed',
      error: { message: 'Error: expect(received).toBe(expected)\n\nExpected: 2', location: at(12) },
      failed_in: [{ title: 'Expect "toBe"', category: 'expect' }],
    });
    expect(verdictOf(report([failed]), '/work')).toEqual({
      status: 'failed',
      error: 'Error: expect(received).toBe(expected)\n\nExpected: 2\n    at tests/login.spec.js:12:5',
    });
  });

  it('names the test and counts the others when a file has several failing tests', () => {
    const failed = (title: string) =>
      test({ title, status: 'failed', error: { message: 'Error: nope', location: at(4) }, failed_in: [] });
    const verdict = verdictOf(report([failed('first'), failed('second'), test({})]), '/work');
    expect(verdict.status).toBe('failed');
    expect(verdict.error).toBe(
      'first: Error: nope\n    at tests/login.spec.js:4:5\n(1 more failed test(s) in this file)',
    );
  });

  it("is errored when AppWright's device fixture failed: the test never ran", () => {
    const noSession = test({
      status: 'failed',
      error: { message: 'WebDriverError: A new session could not be created. Details: Device x was not in the list' },
      failed_in: [
        { title: 'Before Hooks', category: 'hook' },
        { title: 'Fixture "device"', category: 'fixture' },
      ],
    });
    const verdict = verdictOf(report([noSession]), '/work');
    expect(verdict.status).toBe('errored');
    expect(verdict.error).toMatch(/^AppWright's device fixture failed, so the test never ran: WebDriverError/);
  });

  it("is failed when the user's own hook failed", () => {
    const hook = test({
      status: 'failed',
      error: { message: 'Error: login helper failed', location: at(2) },
      failed_in: [
        { title: 'Before Hooks', category: 'hook' },
        { title: 'beforeEach hook', category: 'hook' },
      ],
    });
    expect(verdictOf(report([hook]), '/work').status).toBe('failed');
  });

  it('is errored for an error outside any test, failed when the path matches no test', () => {
    expect(verdictOf(report([], [{ message: 'Error: ANDROID_HOME is not set' }]), '/work')).toEqual({
      status: 'errored',
      error: 'AppWright could not run the test: Error: ANDROID_HOME is not set',
    });
    expect(verdictOf(report([], [{ message: 'Error: No tests found' }]), '/work').status).toBe('failed');
  });
});
