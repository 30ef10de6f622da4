/**
 * What a user of gh-like CLIs expects of qgjob, as processes: `help` forms that exit 0,
 * "did you mean" for `--flag=value` and commands, every missing required flag named at once
 * and marked in --help, global flags before or after the command, Usage first in the
 * top-level help, one truth about cancelling, a hint when no agent is registered, and
 * tables fitted to the terminal (a real pseudo-terminal, through `script`).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../../../tests/helpers/cli.js';
import { runCommand } from '../../../tests/helpers/process.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

const DOWN = '--server=http://127.0.0.1:1';

function oneLineError(r: CliResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

describe.concurrent('help', () => {
  it.each([
    [['help'], /^Usage: qgjob <command> \[flags\]\n/],
    [['help', 'submit'], /\nUsage: qgjob submit \[options\]\n/],
    [['help', 'app', 'upload'], /\nUsage: qgjob app upload \[options\] \[file\]\n/],
    [['app', 'help', 'upload'], /\nUsage: qgjob app upload \[options\] \[file\]\n/],
    [['app', 'help'], /\nUsage: qgjob app \[options\] \[command\]\n/],
    [['token', 'help', 'create'], /\nUsage: qgjob token create \[options\]\n/],
    [['help', 'token', 'revoke'], /\nUsage: qgjob token revoke \[options\]\n/],
  ])('%j prints the help on stdout and exits 0', async (args, pattern) => {
    const r = await runCli(args);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(pattern);
    expect(r.code).toBe(0);
  });

  it('help of an unknown command exits 2 with a suggestion', async () => {
    const r = await runCli(['help', 'sumbit']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(oneLineError(r)).toBe("error: unknown command 'sumbit' (Did you mean submit?) — see 'qgjob --help'");
  });

  it('the top-level help shows Usage, then the commands, then the examples', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const at = (text: string) => r.stdout.indexOf(text);
    expect(at('Usage: qgjob')).toBe(0);
    expect(at('\nCommands:\n')).toBeGreaterThan(0);
    expect(at('\nExamples:\n')).toBeGreaterThan(at('\nCommands:\n'));
    expect(at('\nOptions of every command, before or after its name:\n')).toBeGreaterThan(at('\nExamples:\n'));
    for (const command of ['submit', 'status', 'cancel', 'token', 'help']) {
      expect(r.stdout).toMatch(new RegExp(`\\n {2}${command} `));
    }
    expect(r.stdout).toContain('$ qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d');
  });

  it('--help marks the required flags', async () => {
    const [submit, status, upload, cancel, create, revoke] = await Promise.all([
      runCli(['submit', '--help']),
      runCli(['status', '--help']),
      runCli(['app', 'upload', '--help']),
      runCli(['cancel', '--help']),
      runCli(['token', 'create', '--help']),
      runCli(['token', 'revoke', '--help']),
    ]);
    // One flag's help may wrap: join it into one line first.
    const flagHelp = (help: string, flag: string) =>
      help.split('\n  -').find((item) => item.startsWith(`${flag.slice(1)} `)) ?? '';
    const text = (help: string, flag: string) => flagHelp(help, flag).replace(/\s+/g, ' ');
    for (const flag of ['--org-id', '--app-version-id', '--test'])
      expect(text(submit.stdout, flag)).toMatch(/\(required\)/);
    for (const flag of ['--target', '--priority', '--wait', '--server']) {
      expect(text(submit.stdout, flag)).not.toContain('required');
    }
    expect(text(status.stdout, '--job-id')).toContain('(required, or --submission-id)');
    expect(text(status.stdout, '--submission-id')).toContain('(required, or --job-id)');
    expect(text(upload.stdout, '--org-id')).toContain('(required)');
    expect(text(upload.stdout, '--url')).toContain('(required, or FILE)');
    expect(upload.stdout.replace(/\s+/g, ' ')).toContain('file the built app: .apk, .aab or .ipa (required, or --url)');
    expect(text(cancel.stdout, '--job-id')).toContain('(required)');
    for (const flag of ['--kind', '--name']) expect(text(create.stdout, flag)).toContain('(required)');
    expect(text(create.stdout, '--org-id')).not.toContain('(required)');
    expect(text(revoke.stdout, '--id')).toContain('(required)');
  });

  it('cancel --help says running jobs can be cancelled, finished ones not', async () => {
    const r = await runCli(['cancel', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Cancel a job that has not finished: queued, assigned or running.');
    expect(r.stdout).toMatch(/A running job ends cancelled at\s+once too: its agent stops the test within seconds/);
    expect(r.stdout).toMatch(
      /job that already passed, failed or errored keeps its outcome: cancelling it is refused\s+\(exit 2\)/,
    );
    expect(r.stdout).not.toMatch(/running or finished cannot be cancelled/);
    expect(r.stdout).not.toMatch(/has not started/);
  });
});

describe.concurrent('usage errors', () => {
  it.each([
    [['submit', '--tst=a.js'], "error: unknown option '--tst=a.js' (Did you mean --test?)"],
    [['submit', '--tst', 'a.js'], "error: unknown option '--tst' (Did you mean --test?)"],
    [['status', '--job-i=job_1'], "error: unknown option '--job-i=job_1' (Did you mean --job-id?)"],
    [['list', '--jsn'], "error: unknown option '--jsn' (Did you mean --json?)"],
    [['sumbit', '--test=a.js'], "error: unknown command 'sumbit' (Did you mean submit?)"],
    [['app', 'uplaod'], "error: unknown command 'uplaod' (Did you mean upload?)"],
    [['token', 'craete'], "error: unknown command 'craete' (Did you mean create?)"],
  ])('%j suggests the flag or command meant', async (args, start) => {
    const r = await runCli([...args, DOWN]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(oneLineError(r).startsWith(`${start} — `)).toBe(true);
  });

  it.each([
    [['submit'], "--org-id, --app-version-id and --test are required — see 'qgjob submit --help'"],
    [['submit', '--test=a.spec.js'], "--org-id and --app-version-id are required — see 'qgjob submit --help'"],
    [['submit', '--org-id=', '--app-version-id=v1'], "--org-id and --test are required — see 'qgjob submit --help'"],
    [['app', 'upload'], "--org-id, --app-version-id and FILE (or --url) are required — see 'qgjob app upload --help'"],
    [
      ['app', 'upload', '--org-id=q', '--app-version-id=v'],
      "FILE or --url is required — see 'qgjob app upload --help'",
    ],
    [['status'], "--job-id or --submission-id is required — find ids with 'qgjob list'"],
    [['wait', '--timeout=1m'], "--job-id or --submission-id is required — find ids with 'qgjob list'"],
    [['cancel'], "--job-id is required — find job ids with 'qgjob list'"],
    [['logs', '--follow'], "--job-id is required — find job ids with 'qgjob list'"],
    [['artifacts', '--job-id='], "--job-id is required — find job ids with 'qgjob list'"],
    [['token', 'create'], "--kind and --name are required — see 'qgjob token create --help'"],
    [['token', 'create', '--kind=org'], "--name is required — see 'qgjob token create --help'"],
    [['token', 'revoke'], "--id is required — list tokens with 'qgjob token list'"],
  ])('%j names every missing required flag at once, before any request', async (args, message) => {
    // An unreachable server: exit 2 (not 3) shows nothing was sent.
    const r = await runCli([...args, DOWN]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(oneLineError(r)).toBe(`error: ${message}`);
  });

  it('submit --dry-run needs only the tests', async () => {
    const r = await runCli(['submit', '--dry-run', DOWN]);
    expect(r.code).toBe(2);
    expect(oneLineError(r)).toBe("error: --test is required — see 'qgjob submit --help'");
  });

  it('token create checks --kind, --org-id and --expires before sending', async () => {
    const cases: [string[], RegExp][] = [
      [['--kind=root', '--name=x'], /^error: --kind must be one of org, agent, admin \(got "root"\)/],
      [['--kind=org', '--name=x'], /^error: --org-id is required with --kind=org/],
      [['--kind=agent', '--org-id=q', '--name=x'], /^error: --org-id goes with --kind=org only/],
      [['--kind=admin', '--name=x', '--expires=soon'], /^error: --expires must be a positive duration/],
      [['--kind=admin', '--name=x', '--expires=30s'], /^error: --expires must be from 1m to 3650d \(got "30s"\)/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['token', 'create', ...args, DOWN])));
    for (const [i, r] of results.entries()) {
      expect(r.code).toBe(2);
      expect(oneLineError(r)).toMatch((cases[i] as [string[], RegExp])[1]);
    }
  });

  it('the hint for a server that is down assumes no repository checkout', async () => {
    const r = await runCli(['list', DOWN]);
    expect(r.code).toBe(3);
    expect(oneLineError(r)).toBe(
      "error: cannot reach the qgjob server at http://127.0.0.1:1 — start one with 'job-server' ('npx job-server --open' for local use, no token needed), or set --server / QGJOB_SERVER",
    );
  });
});

describe('against a server', () => {
  let server: FakeServer;
  let jobId: string;

  beforeAll(async () => {
    server = await startFakeServer();
    const submitted = await runCli(
      ['submit', '--org-id=qualgent', '--app-version-id=v1', '--test=tests/a.spec.js', '--json'],
      { env: { QGJOB_SERVER: server.url } },
    );
    jobId = JSON.parse(submitted.stdout).jobs[0].id;
  });
  afterAll(async () => {
    await server.close();
  });

  it('takes the global flags before the command as well as after it', async () => {
    const runs = await Promise.all([
      runCli(['--json', 'status', `--job-id=${jobId}`, `--server=${server.url}`]),
      runCli([`--server=${server.url}`, '--json', 'status', `--job-id=${jobId}`]),
      runCli(['status', `--job-id=${jobId}`, '--json', `--server=${server.url}`]),
      runCli(['--server', server.url, '--token=t0ken', '--no-color', '--json', 'list']),
      // On the command line, --server wins over QGJOB_SERVER, wherever it is.
      runCli([`--server=${server.url}`, '--json', 'list'], { env: { QGJOB_SERVER: 'http://127.0.0.1:1' } }),
    ]);
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(() => JSON.parse(r.stdout)).not.toThrow();
    }
    expect(JSON.parse(runs[0]?.stdout ?? '').id).toBe(jobId);
    expect(JSON.parse(runs[3]?.stdout ?? '').jobs[0].id).toBe(jobId);
  });

  it('agents without any agent says how to start one', async () => {
    server.agents = { agents: [] };
    const r = await runCli(['agents', `--server=${server.url}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `no agents registered — start one on a host with devices: qgjob-agent --server=${server.url} --device=emulator:emulator-5554 (see qgjob-agent --help)\n`,
    );
  });
});

// --- tables on a terminal -------------------------------------------------------------

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.tests.json', import.meta.url));

function hasScript(): boolean {
  try {
    execFileSync('script', ['-qec', 'true', '/dev/null'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * The CLI with stdout on a pseudo-terminal (util-linux `script`), `cols` columns wide when
 * given (else the terminal reports 0 and COLUMNS stands in). Returns what the terminal showed.
 */
async function onTerminal(args: string[], env: Record<string, string>, cols?: number): Promise<CliResult> {
  const cli = [process.execPath, '--import', TSX, MAIN, ...args].map(quote).join(' ');
  const command = `${cols === undefined ? '' : `stty cols ${cols} rows 40; `}exec ${cli}`;
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['QGJOB_SERVER', 'QGJOB_TOKEN', 'COLUMNS', 'GITHUB_ACTIONS', 'FORCE_COLOR']) delete clean[name];
  const r = await runCommand('script', ['-qec', command, '/dev/null'], {
    env: { ...clean, TSX_TSCONFIG_PATH: TSCONFIG, NO_COLOR: '1', ...env },
    timeoutMs: 30_000,
  });
  return { ...r, stdout: r.stdout.replaceAll('\r\n', '\n') };
}

describe.runIf(hasScript())('tables on a terminal', () => {
  let server: FakeServer;
  const LONG = 'tests/a-rather-long-directory-name/with/nested/folders/checkout-with-saved-card.spec.js';
  let ids: string[];

  beforeAll(async () => {
    server = await startFakeServer();
    const r = await runCli(
      [
        'submit',
        '--org-id=qualgent',
        '--app-version-id=release-2024-05-01-build-1234',
        `--test=${LONG}`,
        '--test=tests/login.spec.js',
        '--json',
        '--no-bundle',
      ],
      { env: { QGJOB_SERVER: server.url } },
    );
    ids = JSON.parse(r.stdout).jobs.map((j: { id: string }) => j.id);
  });
  afterAll(async () => {
    await server.close();
  });

  const widest = (text: string) =>
    Math.max(
      ...text
        .trimEnd()
        .split('\n')
        .map((line) => line.length),
    );

  it('qgjob list fits the terminal width, the test path giving way and the ids whole', async () => {
    const [narrow, wide] = await Promise.all([
      onTerminal(['list', `--server=${server.url}`], {}, 110),
      onTerminal(['list', `--server=${server.url}`], {}, 250),
    ]);
    expect(narrow.code).toBe(0);
    expect(widest(narrow.stdout)).toBeLessThanOrEqual(110);
    expect(narrow.stdout).toMatch(/^JOB\s+STATUS\s+ORG\s+APP VERSION/);
    for (const id of ids) expect(narrow.stdout).toContain(id);
    expect(narrow.stdout).toContain('…');
    expect(narrow.stdout).not.toContain(LONG);
    // Wide enough: nothing is cut.
    expect(wide.code).toBe(0);
    expect(wide.stdout).toContain(LONG);
    expect(wide.stdout).not.toContain('…');
  });

  it('COLUMNS stands in when the terminal does not tell its width', async () => {
    const r = await onTerminal(['list', `--server=${server.url}`], { COLUMNS: '105' });
    expect(r.code).toBe(0);
    expect(widest(r.stdout)).toBeLessThanOrEqual(105);
    expect(r.stdout).toContain('…');
  });

  it('--json on a terminal, and a table on a pipe, are whole', async () => {
    const [json, piped] = await Promise.all([
      onTerminal(['list', '--json', `--server=${server.url}`], { COLUMNS: '60' }, 60),
      runCli(['list', `--server=${server.url}`], { env: { COLUMNS: '60' } }),
    ]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).jobs.map((j: { test_path: string }) => j.test_path)).toContain(LONG);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain(LONG);
    expect(piped.stdout).not.toContain('…');
    expect(widest(piped.stdout)).toBeGreaterThan(60);
  });
});
