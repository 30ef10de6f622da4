/** The CLI as a process, without a real job-server: usage errors, help, an unreachable server. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';

const SUBMIT = ['submit', '--org-id=qualgent', '--app-version-id=xyz123'];

function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe.concurrent('qgjob without a server', () => {
  it('exits 3 naming the URL when the server is unreachable', async () => {
    const r = await runCli([...SUBMIT, '--test=tests/onboarding.spec.js', '--server=http://127.0.0.1:1']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expectOneLineError(
      r.stderr,
      /cannot reach the qgjob server at http:\/\/127\.0\.0\.1:1 .*--server \/ QGJOB_SERVER$/,
    );
  });

  it('reads the server from QGJOB_SERVER', async () => {
    const r = await runCli(['status', '--job-id=job_1'], { env: { QGJOB_SERVER: 'http://127.0.0.1:1' } });
    expect(r.code).toBe(3);
    expectOneLineError(r.stderr, /http:\/\/127\.0\.0\.1:1/);
  });

  it.each([
    [
      ['--priority=42', '--test=tests/a.spec.js'],
      /--priority must be an integer from 0 to 9 or one of low, normal, high, urgent \(got "42"\)/,
    ],
    [
      ['--target=tablet', '--test=tests/a.spec.js'],
      /--target must be one of emulator, device, browserstack \(got "tablet"\)/,
    ],
    [['--test=../etc/passwd'], /--test must be a relative path .*\(got "\.\.\/etc\/passwd"\)/],
    [['--test', 'tests/a.spec.js', '--max-retries', '7'], /--max-retries must be an integer from 0 to 5/],
    [['--test=tests/a.spec.js', '--timeout=soon'], /--timeout must be a positive duration/],
    [['--test=tests/a.spec.js', '--bogus'], /unknown option '--bogus'/],
  ])('exits 2 for %j naming the flag', async (args, pattern) => {
    const r = await runCli([...SUBMIT, ...args, '--server=http://127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expectOneLineError(r.stderr, pattern);
  });

  it('exits 2 for a missing --org-id', async () => {
    const r = await runCli(['submit', '--app-version-id=xyz123', '--test=tests/a.spec.js']);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, /--org-id is required/);
  });

  it('exits 2 naming a glob that matches nothing', async () => {
    const r = await runCli([...SUBMIT, '--test=no-such-dir/**/*.spec.js']);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, /--test pattern "no-such-dir\/\*\*\/\*\.spec\.js" matched no files/);
  });

  it('exits 2 for an unknown command and for no command', async () => {
    const unknown = await runCli(['launch']);
    expect(unknown.code).toBe(2);
    expectOneLineError(unknown.stderr, /unknown command 'launch'/);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: qgjob');
  });

  it('shows examples at the top of each command help', async () => {
    const r = await runCli(['submit', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('Examples:\n')).toBe(true);
    expect(r.stdout).toContain(
      'qgjob submit --org-id=qualgent --app-version-id=xyz123 --test=tests/onboarding.spec.js',
    );
    for (const flag of [
      '--org-id',
      '--app-version-id',
      '--test',
      '--target',
      '--priority',
      '--max-retries',
      '--wait',
      '--timeout',
      '--junit',
      '--server',
      '--token',
      '--json',
      '--no-color',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    for (const command of ['status', 'wait', 'list', 'cancel']) {
      const help = await runCli([command, '-h']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Examples:\n {2}\$ qgjob /);
    }
  });

  it('prints the version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('never prints the token', async () => {
    const r = await runCli(['list', '--server=http://127.0.0.1:1', '--token=s3cret-token'], {
      env: { QGJOB_DEBUG: '1' },
    });
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).not.toContain('s3cret-token');
  });
});
