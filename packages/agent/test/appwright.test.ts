import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppwrightExecutor } from '../src/executors/appwright.js';
import { alive, contextFor, neverAborted, tempDir, writeScript } from './fakes.js';

// A fake `npx` first on PATH: it records how it was called and decides by the test path.
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
  *fail*) echo "expect(button).toBeVisible() failed" >&2; exit 1 ;;
  *crash*) kill -SEGV $$ ;;
esac
echo "1 passed"
`,
  );
  process.env.PATH = `${bin}:${originalPath}`;
  process.env.QGJOB_TOKEN = 'secret-token';
});
afterAll(() => {
  process.env.PATH = originalPath;
  delete process.env.QGJOB_TOKEN;
  dir.remove();
});

const executor = (testTimeoutMs = 10_000) =>
  new AppwrightExecutor({
    workdir,
    testTimeoutMs,
    installCommand: 'adb -s {device} install -r {app_path}',
    installTimeoutMs: 10_000,
    killGraceMs: 1000,
  });
const ctx = contextFor({ target: 'emulator', name: 'emulator-5554' }, '/builds/v1.apk');
const job = (path: string) => ({ id: `job-${path}`, test_path: path, priority: 5, attempt: 1 });

describe('appwright executor', () => {
  it('runs npx appwright test with --project as two arguments, in the workdir, with the batch in env', async () => {
    const outcome = await executor().run(job('tests/login.spec.js'), ctx, neverAborted);
    expect(outcome.status).toBe('passed');
    const argv = readFileSync(join(log, 'login.spec.js.argv'), 'utf8').trim().split('\n');
    expect(argv).toEqual(['appwright', 'test', 'tests/login.spec.js', '--project', 'emulator', '--workers', '1']);
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
    });
    await custom.run(job('tests/project.spec.js'), ctx, neverAborted);
    const argv = readFileSync(join(log, 'project.spec.js.argv'), 'utf8').trim().split('\n');
    expect(argv.slice(3, 5)).toEqual(['--project', 'android-pixel']);
  });

  it('maps a non-zero exit to failed, with the end of the output as the error', async () => {
    const outcome = await executor().run(job('tests/fail.spec.js'), ctx, neverAborted);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toContain('exited with code 1');
    expect(outcome.error).toContain('toBeVisible() failed');
  });

  it('maps a death by signal to errored', async () => {
    const outcome = await executor().run(job('tests/crash.spec.js'), ctx, neverAborted);
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('SIGSEGV');
  });

  it('kills the whole process group on timeout and reports errored', async () => {
    const started = Date.now();
    const outcome = await executor(500).run(job('tests/slow.spec.js'), ctx, neverAborted);
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
    const outcome = await executor().run(job('tests/slow2.spec.js'), ctx, controller.signal);
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('agent shutting down');
    const child = Number(readFileSync(join(log, 'slow2.spec.js.child'), 'utf8'));
    expect(alive(child)).toBe(false);
  });

  it('reports a missing npx as errored, not failed', async () => {
    const empty = tempDir();
    process.env.PATH = empty.path;
    try {
      const outcome = await executor().run(job('tests/login.spec.js'), ctx, neverAborted);
      expect(outcome.status).toBe('errored');
      expect(outcome.error).toMatch(/could not start npx appwright: .*ENOENT/);
    } finally {
      process.env.PATH = `${bin}:${originalPath}`;
      empty.remove();
    }
  });

  it('lets emulator tests of one host take turns (one Appium port)', async () => {
    const ex = executor();
    const other = contextFor({ target: 'emulator', name: 'emulator-5556' }, '/builds/v1.apk');
    const controller = new AbortController();
    const first = ex.run(job('tests/slow3.spec.js'), ctx, controller.signal);
    await new Promise((r) => setTimeout(r, 300));
    const second = ex.run(job('tests/second.spec.js'), other, neverAborted);
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(log, 'second.spec.js.argv'))).toBe(false);
    controller.abort(new Error('stop'));
    expect((await first).status).toBe('errored');
    expect((await second).status).toBe('passed');
  });
});
