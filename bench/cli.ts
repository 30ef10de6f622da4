import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../tests/helpers/process.js';
import { percentile, request, startServerProcess, table, writeResults } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 20);
const WARMUP = 3;
const CLI_DIR = fileURLToPath(new URL('../packages/cli/', import.meta.url));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function exec(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Exit> {
  return runCommand(command, args, { cwd, env });
}

/** Packs and installs the CLI the way users get it; returns the installed binary. */
async function install(temp: string): Promise<string> {
  const pack = await exec('npm', ['pack', '--json', '--pack-destination', temp], CLI_DIR);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  const [{ filename }] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as [{ filename: string }];
  const prefix = join(temp, 'prefix');
  const args = ['install', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', join(temp, filename)];
  const installed = await exec('npm', args, temp);
  if (installed.code !== 0) throw new Error(`npm install failed:\n${installed.stderr}`);
  return join(prefix, 'node_modules', '.bin', 'qgjob');
}

/** Wall times in ms of `runs` runs, after a few unmeasured ones (disk cache, first JIT). */
async function time(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const started = performance.now();
    const r = await exec(bin, args, cwd, env);
    const ms = performance.now() - started;
    if (r.code !== 0) throw new Error(`qgjob ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    if (i >= WARMUP) samples.push(ms);
  }
  return samples.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const temp = mkdtempSync(join(tmpdir(), 'qgjob-bench-cli-'));
  const server = await startServerProcess(['--memory']);
  try {
    const bin = await install(temp);
    const submitted = await request(`${server.url}/v1/jobs`, 'POST', {
      org_id: 'bench',
      app_version_id: 'cli',
      test_path: 'tests/bench.spec.js',
    });
    const jobId = (submitted.body as { jobs: { id: string }[] }).jobs[0]?.id;
    if (!jobId) throw new Error(`submit failed: ${JSON.stringify(submitted.body)}`);

    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (/^(QGJOB_|GITHUB_)/.test(key)) delete env[key];
    const cases = [
      { command: 'qgjob --help', args: ['--help'], goalMs: 150 },
      {
        command: 'qgjob status --job-id=ID',
        args: ['status', `--job-id=${jobId}`, `--server=${server.url}`],
        goalMs: 250,
      },
    ];
    const rows: Record<string, string | number>[] = [];
    for (const c of cases) {
      const samples = await time(bin, c.args, temp, env);
      const median = percentile(samples, 50);
      const p90 = percentile(samples, 90);
      rows.push({
        command: c.command,
        runs: samples.length,
        'median ms': median.toFixed(1),
        'p90 ms': p90.toFixed(1),
        'min ms': (samples[0] ?? Number.NaN).toFixed(1),
        goal: `< ${c.goalMs} ms`,
        verdict: p90 < c.goalMs ? 'ok' : 'over',
      });
    }
    console.log(`bench/cli: the packed CLI on Node ${process.version}, ${RUNS} runs each after ${WARMUP} warm-up runs`);
    console.log(table(rows));
    await writeResults('cli', { params: { RUNS, WARMUP }, rows });
  } finally {
    await server.stop();
    rmSync(temp, { recursive: true, force: true });
  }
}

await main();
