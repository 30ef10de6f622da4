import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppwrightExecutor } from '../src/executors/appwright.js';
import { alive, contextFor, neverAborted, tempDir, writeScript } from './fakes.js';

// How the executor runs and ends the test process, with a fake `npx` first on PATH: it
// records how it was called, decides by the test path and writes the report the agent's
// Playwright reporter would. Real AppWright and Playwright run in tests/e2e/appwright.test.ts;
// the Appium routing of emulator tests is tested there and in gateway.test.ts.
const dir = tempDir();
const bin = join(dir.path, 'bin');
const workdir = join(dir.path, 'work');
const log = join(dir.path, 'log');
const originalPath = process.env.PATH;

beforeAll(() => {
  for (const d of [bin, workdir, log]) mkdirSync(d, { recursive: true });
  writeScript(
    join(bin, 'npx'),
    `
name=$(basename "$3")
printf '%s\\n' "$@" > "${log}/$name.argv"
pwd > "${log}/$name.cwd"
env | grep -E '^(QGJOB_|CI=|ANDROID_SERIAL=)' | sort > "${log}/$name.env"
case "$3" in
  *slow*) sleep 300 & echo $! > "${log}/$name.child"; sleep 300 ;;
  *fail*) echo "expect(button).toBeVisible() failed" >&2
    printf '%s' '{"status":"failed","errors":[],"tests":[{"title":"logs in","location":{"file":"'"$PWD"'/tests/fail.spec.js","line":3,"column":1},"status":"failed","duration_ms":5,"error":{"message":"Error: expect(button).toBeVisible() failed","location":{"file":"'"$PWD"'/tests/fail.spec.js","line":9,"column":7}},"error_count":1,"failed_in":[{"title":"Expect","category":"expect"}],"attachments":[]}]}' > "$QGJOB_REPORT_FILE"
    exit 1 ;;
  *noreport*) echo "Error: Fixture "device" cannot be overridden" >&2; exit 1 ;;
  *crash*) kill -SEGV $$ ;;
esac
echo "1 passed"
`,
  );
  process.env.PATH = `${bin}:${originalPath}`;
  process.env.QGJOB_TOKEN = 'secret-token';
});
afterAll(async () => {
  process.env.PATH = originalPath;
  delete process.env.QGJOB_TOKEN;
  dir.remove();
  // Each run's output folder is the caller's to discard, as the batch runner does.
  await Promise.all(outcomes.map((o) => o.artifacts?.discard()));
});

const outcomes: { artifacts?: { discard(): Promise<void> } }[] = [];
function kept<T extends { artifacts?: { discard(): Promise<void> } }>(outcome: T): T {
  outcomes.push(outcome);
  return outcome;
}

const executor = (testTimeoutMs = 10_000) =>
  new AppwrightExecutor({
    workdir,
    testTimeoutMs,
    installCommand: 'adb -s {device} install -r {app_path}',
    installTimeoutMs: 10_000,
    killGraceMs: 1000,
    // No Appium routing here: these tests are about the test process itself.
    localParallel: true,
  });
const ctx = contextFor({ target: 'emulator', name: 'emulator-5554' }, '/builds/v1.apk');
const job = (path: string) => ({ id: `job-${path}`, test_path: path, priority: 5, attempt: 1 });

describe('appwright executor', () => {
  it('runs npx appwright test with --project as two arguments, in the workdir, with the batch in env', async () => {
    const outcome = kept(await executor().run(job('tests/login.spec.js'), ctx, neverAborted));
    expect(outcome.status).toBe('passed');
    const argv = readFileSync(join(log, 'login.spec.js.argv'), 'utf8').trim().split('\n');
    expect(argv.slice(0, 9)).toEqual([
      'appwright',
      'test',
      'tests/login.spec.js',
      '--project',
      'emulator',
      '--workers',
      '1',
      '--retries',
      '0',
    ]);
    expect(argv[9]).toMatch(/^--reporter=list,\/.*reporter\.(ts|js)$/);
    expect(argv[10]).toBe('--output');
    expect(readFileSync(join(log, 'login.spec.js.cwd'), 'utf8').trim()).toBe(workdir);
    const env = readFileSync(join(log, 'login.spec.js.env'), 'utf8');
    for (const line of [
      'CI=true',
      'QGJOB_APP_VERSION_ID=v1',
      'QGJOB_APP_PATH=/builds/v1.apk',
      'QGJOB_DEVICE=emulator-5554',
      'QGJOB_TARGET=emulator',
      'QGJOB_ORG_ID=org1',
      'QGJOB_BATCH_ID=b1',
      'QGJOB_JOB_ID=job-tests/login.spec.js',
      'ANDROID_SERIAL=emulator-5554',
    ]) {
      expect(env).toContain(`${line}\n`);
    }
    expect(env).not.toContain('secret-token');
  });

  it('uses the --project given', async () => {
    const custom = new AppwrightExecutor({
      workdir,
      project: 'android-pixel',
      testTimeoutMs: 10_000,
      installCommand: 'true',
      installTimeoutMs: 1000,
      localParallel: true,
    });
    kept(await custom.run(job('tests/project.spec.js'), ctx, neverAborted));
    const argv = readFileSync(join(log, 'project.spec.js.argv'), 'utf8').trim().split('\n');
    expect(argv.slice(3, 5)).toEqual(['--project', 'android-pixel']);
  });

  it("takes a failed test's verdict, message and location from the report, not the exit code", async () => {
    const outcome = kept(await executor().run(job('tests/fail.spec.js'), ctx, neverAborted));
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toBe('Error: expect(button).toBeVisible() failed\n    at tests/fail.spec.js:9:7');
  });

  it('maps an exit without any test result to errored, with the end of the output', async () => {
    const outcome = kept(await executor().run(job('tests/noreport.spec.js'), ctx, neverAborted));
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('exited with code 1 before any test result');
    expect(outcome.error).toContain('cannot be overridden');
  });

  it('maps a death by signal to errored', async () => {
    const outcome = kept(await executor().run(job('tests/crash.spec.js'), ctx, neverAborted));
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('SIGSEGV');
  });

  it('kills the whole process group on timeout and reports errored', async () => {
    const started = Date.now();
    const outcome = kept(await executor(500).run(job('tests/slow.spec.js'), ctx, neverAborted));
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('timed out');
    expect(Date.now() - started).toBeLessThan(5000);
    const child = Number(readFileSync(join(log, 'slow.spec.js.child'), 'utf8'));
    expect(child).toBeGreaterThan(0);
    expect(alive(child)).toBe(false);
  });

  it('kills the test when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('agent shutting down')), 300);
    const outcome = kept(await executor().run(job('tests/slow2.spec.js'), ctx, controller.signal));
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('agent shutting down');
    const child = Number(readFileSync(join(log, 'slow2.spec.js.child'), 'utf8'));
    expect(alive(child)).toBe(false);
  });

  it('reports a missing npx as errored, not failed', async () => {
    const empty = tempDir();
    process.env.PATH = empty.path;
    try {
      const outcome = kept(await executor().run(job('tests/login.spec.js'), ctx, neverAborted));
      expect(outcome.status).toBe('errored');
      expect(outcome.error).toMatch(/could not start npx appwright: .*ENOENT/);
    } finally {
      process.env.PATH = `${bin}:${originalPath}`;
      empty.remove();
    }
  });
});
