import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppwrightExecutor } from '../src/executors/appwright.js';
import { CommandExecutor } from '../src/executors/command.js';
import { contextFor, neverAborted, tempDir, writeScript } from './fakes.js';

// A fake `adb` first on PATH: records its argv; the serial `broken-1` fails like a full disk.
const dir = tempDir();
const bin = join(dir.path, 'bin');
const workdir = join(dir.path, 'work');
const apk = join(workdir, 'builds', 'v1.apk');
const argvFile = join(dir.path, 'adb.argv');
const originalPath = process.env.PATH;

beforeAll(() => {
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(workdir, 'builds'), { recursive: true });
  writeFileSync(apk, 'not really an apk');
  writeScript(
    join(bin, 'adb'),
    `
printf '%s\\n' "$@" > "${argvFile}"
if [ "$2" = "broken-1" ]; then echo "Failure [INSTALL_FAILED_INSUFFICIENT_STORAGE]" >&2; exit 1; fi
echo Success
`,
  );
  process.env.PATH = `${bin}:${originalPath}`;
});
afterAll(() => {
  process.env.PATH = originalPath;
  dir.remove();
});

const appwright = new AppwrightExecutor({
  workdir,
  testTimeoutMs: 10_000,
  installCommand: 'adb -s {device} install -r {app_path}',
  installTimeoutMs: 10_000,
});

describe('install', () => {
  it('runs adb -s SERIAL install -r APP_PATH', async () => {
    const outcome = await appwright.install(
      contextFor({ target: 'emulator', name: 'emulator-5554' }, apk),
      neverAborted,
    );
    expect(outcome).toMatchObject({ ok: true });
    expect(readFileSync(argvFile, 'utf8').trim().split('\n')).toEqual(['-s', 'emulator-5554', 'install', '-r', apk]);
  });

  it('fails the install on a non-zero exit, with adb’s message', async () => {
    const outcome = await appwright.install(contextFor({ target: 'device', name: 'broken-1' }, apk), neverAborted);
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toContain('exited with code 1');
    expect(outcome.error).toContain('INSTALL_FAILED_INSUFFICIENT_STORAGE');
  });

  it('fails the install, naming the path, when the build is not there', async () => {
    const missing = join(workdir, 'builds', 'v2.apk');
    const outcome = await appwright.install(
      contextFor({ target: 'emulator', name: 'emulator-5554' }, missing),
      neverAborted,
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toContain(missing);
  });

  it('installs nothing on a BrowserStack slot', async () => {
    writeFileSync(argvFile, '');
    const outcome = await appwright.install(
      contextFor({ target: 'browserstack', name: 'bs-1' }, 'bs://abc'),
      neverAborted,
    );
    expect(outcome.ok).toBe(true);
    expect(readFileSync(argvFile, 'utf8')).toBe('');
  });

  it('the command executor installs only with an explicit install command', async () => {
    writeFileSync(argvFile, '');
    const ctx = contextFor({ target: 'emulator', name: 'emulator-5554' }, apk);
    const without = new CommandExecutor({ template: 'true', workdir, testTimeoutMs: 1000, installTimeoutMs: 1000 });
    expect((await without.install(ctx, neverAborted)).ok).toBe(true);
    expect(readFileSync(argvFile, 'utf8')).toBe('');
    const withInstall = new CommandExecutor({
      template: 'true',
      workdir,
      testTimeoutMs: 1000,
      installCommand: 'adb -s {device} install -r {app_path}',
      installTimeoutMs: 1000,
    });
    expect((await withInstall.install(ctx, neverAborted)).ok).toBe(true);
    expect(readFileSync(argvFile, 'utf8')).toContain('emulator-5554');
  });
});
