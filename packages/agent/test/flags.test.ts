import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../src/config.js';
import { UsageError } from '../src/errors.js';
import { parseFlags } from '../src/flags.js';

const base = ['--server=http://localhost:8080', '--device=emulator:emulator-5554'];

function config(args: string[], env: NodeJS.ProcessEnv = {}): AgentConfig {
  const parsed = parseFlags(args, env);
  if (parsed.kind !== 'run') throw new Error(`expected run, got ${parsed.kind}`);
  return parsed.config;
}

function usage(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseFlags(args, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('flags', () => {
  it('accepts --flag=value and --flag value, repeated devices, and SPEC defaults', () => {
    const c = config(['--server', 'http://a:1,http://b:2', '--device', 'emulator:e1', '--device=browserstack:bs-1']);
    expect(c.server).toEqual(['http://a:1', 'http://b:2']);
    expect(c.devices).toEqual([
      { target: 'emulator', name: 'e1' },
      { target: 'browserstack', name: 'bs-1' },
    ]);
    expect(c.executor).toBe('appwright');
    expect(c.workdir).toBe(process.cwd());
    expect(c.testTimeoutMs).toBeUndefined();
  });

  it('reads QGJOB_SERVER, QGJOB_TOKEN and QGJOB_APP_PATH from the environment', () => {
    const c = config(['--device=device:R58M123'], {
      QGJOB_SERVER: 'http://env:8080',
      QGJOB_TOKEN: 't0k',
      QGJOB_APP_PATH: '/apks/{app_version_id}.apk',
    });
    expect(c.server).toEqual(['http://env:8080']);
    expect(c.token).toBe('t0k');
    expect(c.appPath).toBe('/apks/{app_version_id}.apk');
  });

  it('parses executor settings', () => {
    const sim = config([
      ...base,
      '--executor=simulate',
      '--sim-test-ms=50',
      '--sim-install-ms',
      '0',
      '--sim-fail=flaky',
    ]);
    expect(sim).toMatchObject({ simTestMs: 50, simInstallMs: 0 });
    expect(sim.simFail).toEqual(/flaky/);
    const aw = config([...base, '--project', 'pixel', '--test-timeout=90s', '--grace=0']);
    expect(aw).toMatchObject({ project: 'pixel', testTimeoutMs: 90_000, graceMs: 0 });
    expect(config([...base, '--executor=command', '--command=./t.sh {test_path}']).command).toBe('./t.sh {test_path}');
  });

  it('names the flag in every error', () => {
    expect(usage(['--device=emulator:e1'])).toContain('--server');
    expect(usage(['--server=ftp://x', '--device=emulator:e1'])).toContain('--server');
    expect(usage(['--server=http://x'])).toContain('--device');
    expect(usage([...base, '--device=emulator:emulator-5554'])).toContain('twice');
    expect(usage(['--server=http://x', '--device=emulator'])).toContain('--device');
    expect(usage([...base, '--executor=docker'])).toContain('--executor');
    expect(usage([...base, '--executor=command'])).toContain('--command');
    expect(usage([...base, '--sim-fail=('])).toContain('--sim-fail');
    expect(usage([...base, '--executor=simulate', '--sim-fail=('])).toContain('--sim-fail');
    expect(usage([...base, '--executor=simulate', '--sim-test-ms=-1'])).toContain('--sim-test-ms');
    expect(usage([...base, '--test-timeout=soon'])).toContain('--test-timeout');
    expect(usage([...base, '--install-command=adb {serial}'])).toContain('{serial}');
    expect(usage([...base, '--workdir=/no/such/dir'])).toContain('--workdir');
    expect(usage([...base, '--bogus'])).toBe('unknown flag --bogus (see qgjob-agent --help)');
  });

  it('takes the Appium settings of the appwright executor, and names a bad one', () => {
    const c = config([...base, '--appium-command=node appium.mjs', '--appium-port=4724', '--adb=/opt/sdk/adb']);
    expect([c.appiumCommand, c.appiumPort, c.adb]).toEqual(['node appium.mjs', 4724, '/opt/sdk/adb']);
    expect(usage([...base, '--appium-port=0'])).toBe('--appium-port must be a TCP port, 1-65535 (got "0")');
    expect(usage([...base, '--executor=simulate', '--adb=adb'])).toBe(
      '--adb applies only to --executor=appwright (the executor is simulate)',
    );
  });

  it('answers --help and --version', () => {
    expect(parseFlags(['--help']).kind).toBe('help');
    expect(parseFlags(['-h']).kind).toBe('help');
    expect(parseFlags(['--version']).kind).toBe('version');
  });
});
