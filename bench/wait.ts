/**
 * How soon `qgjob wait` ends after its last job finishes. A job-server process (PGlite, and
 * PostgreSQL when QGJOB_BENCH_DATABASE_URL is set) and a simulate agent with one device run
 * one job per sample; the built CLI runs `qgjob wait --submission-id=…` as a process, started
 * before the job can finish. A sample is the time from the job's finished_at (the database's
 * clock, the same machine's as ours; the statement's time, just before it commits) to the CLI
 * process's exit. Two modes: waiting reads (the default), and the old interval polling forced
 * with QGJOB_LONG_POLL=0 and QGJOB_POLL_INTERVAL_MS.
 *   SAMPLES (default 30), TEST_MS (simulated test length, default 1500), INTERVAL_MS (default 1000)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import {
  benchPostgresUrl,
  percentile,
  type Row,
  type Store,
  startServerProcess,
  stores,
  table,
  writeResults,
} from './lib.js';

const SAMPLES = Number(process.env.SAMPLES ?? 30);
const TEST_MS = Number(process.env.TEST_MS ?? 1500);
const INTERVAL_MS = Number(process.env.INTERVAL_MS ?? 1000);
const CLI = fileURLToPath(new URL('../packages/cli/bin/qgjob.js', import.meta.url));

interface Mode {
  name: string;
  env: Record<string, string>;
}

const MODES: Mode[] = [
  { name: 'waiting reads', env: {} },
  {
    name: `polling every ${INTERVAL_MS} ms`,
    env: { QGJOB_LONG_POLL: '0', QGJOB_POLL_INTERVAL_MS: String(INTERVAL_MS) },
  },
];

/** Runs the CLI's wait; resolves with the wall-clock time of its exit and its exit code. */
function cliWait(
  server: string,
  submissionId: string,
  env: Record<string, string>,
): Promise<{ at: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'wait', `--server=${server}`, `--submission-id=${submissionId}`, '--json'],
      {
        env: { ...process.env, ...env, NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ at: Date.now(), code, stderr }));
  });
}

async function sample(client: QgjobClient, server: string, mode: Mode, i: number): Promise<number> {
  const submitted = await client.submit({
    org_id: 'bench',
    app_version_id: 'wait',
    test_path: `tests/wait-${mode.env.QGJOB_LONG_POLL ?? 'live'}-${i}-${Date.now()}.spec.js`,
  });
  const exit = await cliWait(server, submitted.submission_id, mode.env);
  if (exit.code !== 0) throw new Error(`qgjob wait exited ${exit.code}:\n${exit.stderr}`);
  const job = await client.getJob(submitted.jobs[0]?.id as string);
  if (!job.finished_at) throw new Error(`job ${job.id} has no finished_at`);
  return exit.at - Date.parse(job.finished_at);
}

async function measure(store: Store): Promise<Row[]> {
  const server = await startServerProcess(store.args);
  const agent = startAgent({
    server: server.url,
    name: 'bench-wait',
    executor: 'simulate',
    simTestMs: TEST_MS,
    simInstallMs: 0,
    logger: silentLogger,
    devices: [{ target: 'emulator', name: 'e0' }],
  });
  const rows: Row[] = [];
  try {
    await agent.ready;
    const client = new QgjobClient({ server: server.url });
    // Unmeasured: the first install, the CLI's first start from a cold disk cache.
    await sample(client, server.url, MODES[0] as Mode, -1);
    for (const mode of MODES) {
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) samples.push(await sample(client, server.url, mode, i));
      samples.sort((a, b) => a - b);
      rows.push({
        store: store.name,
        mode: mode.name,
        samples: samples.length,
        'finished → CLI exit p50 ms': Math.round(percentile(samples, 50)),
        'p99 ms': Math.round(percentile(samples, 99)),
        'min ms': Math.round(samples[0] ?? Number.NaN),
      });
      console.error(`${store.name}, ${mode.name}: p50 ${percentile(samples, 50).toFixed(0)} ms`);
    }
  } finally {
    await agent.stop();
    await server.stop();
  }
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const store of await stores()) {
    try {
      rows.push(...(await measure(store)));
    } finally {
      await store.cleanup();
    }
  }
  console.log(
    `bench/wait: ${SAMPLES} samples per mode, one ${TEST_MS} ms job each; time from the job's finished_at to qgjob wait's exit`,
  );
  console.log(table(rows));
  await writeResults('wait', {
    params: { SAMPLES, TEST_MS, INTERVAL_MS },
    rows,
    postgresUrl: benchPostgresUrl,
    notes: [
      "finished_at is the database's time of the statement that ended the job, just before its commit.",
      'The exit includes the CLI printing its results and the process ending.',
    ],
  });
}

await main();
