import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from './helpers/agent.js';
import { runCommand } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const CLI_DIR = fileURLToPath(new URL('../packages/cli/', import.meta.url));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** This process's environment without what npm, qgjob or GitHub Actions put there for it. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(QGJOB_|GITHUB_|RUNNER_|NO_COLOR$|FORCE_COLOR$|INIT_CWD$)/.test(key)) continue;
    if (/^npm_(lifecycle_|package_|command$|config_(local_prefix|prefix|workspaces?|global)$)/i.test(key)) continue;
    env[key] = value;
  }
  // The installed binary starts with `#!/usr/bin/env node`: this Node first on PATH.
  env.PATH = [dirname(process.execPath), env.PATH ?? ''].join(delimiter);
  return { ...env, ...extra };
}

function run(command: string, args: string[], cwd: string, env = cleanEnv(), timeoutMs = 60_000): Promise<Result> {
  return runCommand(command, args, { cwd, env, timeoutMs });
}

let temp: string;
let prefix: string;
let qgjob: string;
let packed: { filename: string; files: { path: string }[] };
let server: TestServer | undefined;
let agent: SimAgent | undefined;

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), 'qgjob-pack-'));
  prefix = join(temp, 'prefix');
  const pack = await run('npm', ['pack', '--json', '--pack-destination', temp], CLI_DIR, cleanEnv(), 120_000);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  // prepack's own output may precede the JSON document.
  packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as (typeof packed)[])[0] as typeof packed;
  const tarball = join(temp, packed.filename);
  const install = await run(
    'npm',
    ['install', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball],
    temp,
    cleanEnv(),
    120_000,
  );
  if (install.code !== 0) throw new Error(`npm install of ${tarball} failed:\n${install.stderr}`);
  qgjob = join(prefix, 'node_modules', '.bin', 'qgjob');
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await server?.close();
  if (temp) rmSync(temp, { recursive: true, force: true });
});

describe('the packed qgjob CLI', () => {
  it('ships only the bundle and installs with no dependencies', () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths).toContain('bin/qgjob.js');
    expect(paths).toContain('dist/main.js');
    expect(paths.some((path) => path.startsWith('dist/chunks/'))).toBe(true);
    expect(paths.filter((path) => !/^(bin\/|dist\/|package\.json$)/.test(path))).toEqual([]);
    expect(paths.filter((path) => path.startsWith('dist/tsc/') || path.endsWith('.ts'))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(prefix, 'node_modules/qgjob/package.json'), 'utf8'));
    expect(manifest.dependencies).toBeUndefined();
    expect(readdirSync(join(prefix, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual(['qgjob']);
  });

  it('prints help with examples, and the version', async () => {
    const help = await run(qgjob, ['--help'], prefix);
    expect(help.code).toBe(0);
    // Usage first, then the commands, then the examples.
    expect(help.stdout).toMatch(/^Usage: qgjob <command> \[flags\]\n/);
    expect(help.stdout).toMatch(/\nCommands:\n[\s\S]*\nExamples:\n {2}\$ qgjob submit /);
    expect(help.stdout).toContain('GITHUB_STEP_SUMMARY');
    // The hint for a server that is down assumes no repository checkout.
    const down = await run(qgjob, ['list', '--server=http://127.0.0.1:1'], prefix);
    expect(down.code).toBe(3);
    expect(down.stderr).not.toContain('npm start');
    expect(down.stderr).toContain("start one with 'job-server' ('npx job-server --open' for local use");
    const version = await run(qgjob, ['--version'], prefix);
    expect(version.code).toBe(0);
    const { version: expected } = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8'));
    expect(version.stdout).toBe(`${expected}\n`);
  });

  it('submits, waits and passes against a job-server and a simulated agent', async () => {
    server = await startTestServer();
    agent = await startSimAgent(server.url, { devices: ['emulator:e1'] });
    const summaryFile = join(temp, 'summary.md');
    const outputFile = join(temp, 'output');
    writeFileSync(summaryFile, '');
    writeFileSync(outputFile, '');
    const r = await run(
      qgjob,
      [
        'submit',
        '--org-id=qualgent',
        '--app-version-id=packed1',
        '--test=tests/onboarding.spec.js',
        '--test=tests/login.spec.js',
        '--wait',
        '--timeout=60s',
        '--junit=results/junit.xml',
        `--server=${server.url}`,
      ],
      prefix,
      cleanEnv({
        QGJOB_POLL_INTERVAL_MS: '50',
        GITHUB_ACTIONS: 'true',
        GITHUB_STEP_SUMMARY: summaryFile,
        GITHUB_OUTPUT: outputFile,
      }),
    );
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^submission sub_\S+: 2 jobs\n/);
    expect(r.stdout).toMatch(/\n2 passed, 0 failed, 0 errored, 0 cancelled in /);
    expect(r.stderr).toMatch(/^::group::qgjob: waiting for 2 jobs\n/m);
    expect(r.stderr).toMatch(/^::endgroup::$/m);
    expect(existsSync(join(prefix, 'results/junit.xml'))).toBe(true);
    expect(readFileSync(outputFile, 'utf8')).toMatch(/^submission-id=sub_\S+\npassed=2\nfailed=0\n/);
    const summary = readFileSync(summaryFile, 'utf8');
    expect(summary).toMatch(/^### ✅ qgjob: 2 passed\n/);
    // One device, one group: one install for both runs.
    expect(summary).toContain('1 app install for 2 runs (1 saved)');
    expect(summary).toMatch(/\| `tests\/onboarding\.spec\.js` \| emulator \| `e1` \| ✅ passed \|/);
  });
});
