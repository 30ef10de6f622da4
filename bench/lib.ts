/** Shared pieces of the benchmarks: a job-server process from the build, stores, HTTP load. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDatabase } from '../tests/helpers/db.js';
import type { Row } from './format.js';

const SERVER = fileURLToPath(new URL('../packages/server/dist/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where writeResults puts `<name>.json`; scripts/bench-tables.mjs reads them from there. */
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

export interface Store {
  name: 'pglite' | 'postgres';
  args: string[];
  /** PostgreSQL: the database's URL (for the benchmark's own queries). */
  url?: string;
  cleanup(): Promise<void>;
}

/** The PostgreSQL the benchmarks may create databases on, if any. */
export const benchPostgresUrl = process.env.QGJOB_BENCH_DATABASE_URL ?? process.env.QGJOB_TEST_DATABASE_URL;

export async function pgliteStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'qgjob-bench-'));
  return {
    name: 'pglite',
    args: [`--data-dir=${join(dir, 'data')}`],
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresStore(): Promise<Store> {
  const database = await createDatabase(requireBenchPostgres(), 'qgjob_bench');
  return { name: 'postgres', args: [`--database-url=${database.url}`], url: database.url, cleanup: database.drop };
}

export function requireBenchPostgres(): string {
  if (!benchPostgresUrl)
    throw new Error('set QGJOB_BENCH_DATABASE_URL (or QGJOB_TEST_DATABASE_URL) to benchmark PostgreSQL');
  return benchPostgresUrl;
}

export async function stores(): Promise<Store[]> {
  const list = [await pgliteStore()];
  if (benchPostgresUrl) list.push(await postgresStore());
  else console.error('note: no QGJOB_BENCH_DATABASE_URL / QGJOB_TEST_DATABASE_URL, PostgreSQL skipped');
  return list;
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
  options: { open?: boolean } = {},
): Promise<ServerProcess> {
  const base = options.open === false ? ['--port=0'] : ['--port=0', '--open'];
  // QGJOB_BENCH_SERVER_LOG=FILE keeps the server's info-level log lines (batches leased, runs) to study a run.
  const logFile = process.env.QGJOB_BENCH_SERVER_LOG;
  const child = spawn(process.execPath, [SERVER, ...base, ...args], {
    env: { ...process.env, LOG_LEVEL: logFile ? 'info' : 'warn', ...env },
    stdio: ['ignore', logFile ? openSync(logFile, 'a') : 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`job-server exited:\n${err}`)));
  });
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One JSON request over a keep-alive connection; resolves with status and parsed body. */
export function request(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs `task(i)` for i in [0, total) with `concurrency` in flight; returns elapsed ms. */
export async function pool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await task(next++);
    }),
  );
  return performance.now() - started;
}

export { percentile, table } from './format.js';
export type { Row };

export interface Results {
  /** The sizes and settings the run used (what its environment variables made them). */
  params: Record<string, string | number | boolean>;
  /** The same objects the printed table shows. */
  rows: Row[];
  notes?: string[];
  /** How to run it again. Default `npm run bench:<name>`. */
  command?: string;
  /** The PostgreSQL the run used, if any: its server version is recorded. */
  postgresUrl?: string;
  /** Default bench/results. */
  dir?: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return undefined;
  }
}

/** The commit measured; dirty when tracked files other than bench/results differ from it. */
export function gitCommit(): { sha: string; dirty: boolean } {
  const sha = git(['rev-parse', 'HEAD']) ?? 'unknown';
  const status = git(['status', '--porcelain', '--untracked-files=no']) ?? '';
  const dirty = status
    .split('\n')
    .filter((line) => line.length > 3)
    // "XY path" or "XY from -> to" (renames).
    .flatMap((line) => line.slice(3).split(' -> '))
    .map((path) => path.replace(/^"|"$/g, ''))
    .some((path) => !path.startsWith('bench/results/'));
  return { sha, dirty };
}

export async function postgresVersion(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Writes bench/results/<name>.json: what was measured, when, on which commit and machine,
 * with which sizes. scripts/bench-tables.mjs turns these files into the README's tables.
 */
export async function writeResults(name: string, results: Results): Promise<string> {
  const cpus = os.cpus();
  const postgres = results.postgresUrl ? await postgresVersion(results.postgresUrl) : undefined;
  const file = {
    benchmark: name,
    command: results.command ?? `npm run bench:${name}`,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: {
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      memory_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      node: process.version,
      ...(postgres ? { postgresql: postgres } : {}),
    },
    params: results.params,
    rows: results.rows,
    ...(results.notes?.length ? { notes: results.notes } : {}),
  };
  const dir = results.dir ?? RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`results: ${path}`);
  return path;
}

/** Jobs that reached a terminal status, from the server's /metrics. */
export async function finishedCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^qgjob_jobs_finished_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}
