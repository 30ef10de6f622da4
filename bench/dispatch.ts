/**
 * Dispatch speed: zero-length simulated tests on many devices. Jobs are queued first,
 * then agents start; we time how fast jobs are claimed, run and reported, on PostgreSQL
 * and PGlite. Then, with every device idle and long-polling, single jobs are submitted
 * one by one and submit→start latency is read from the server's timestamps. On the same
 * PostgreSQL, the same number of empty jobs goes through pg-boss 10 (fetch in batches of
 * 100 by 16 workers, complete) for comparison.
 *   npm run bench:dispatch        (JOBS=10000 DEVICES=64 LATENCY_JOBS=300)
 */
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import PgBoss from 'pg-boss';
import { createDatabase } from '../tests/helpers/db.js';
import {
  benchPostgresUrl,
  finishedCount,
  percentile,
  pool,
  requireBenchPostgres,
  startServerProcess,
  stores,
  table,
  writeResults,
} from './lib.js';

const JOBS = Number(process.env.JOBS ?? 10_000);
const DEVICES = Number(process.env.DEVICES ?? 64);
const LATENCY_JOBS = Number(process.env.LATENCY_JOBS ?? 300);
const AGENTS = 4;

async function waitFinished(url: string, total: number): Promise<void> {
  while ((await finishedCount(url)) < total) await new Promise((r) => setTimeout(r, 20));
}

async function ours(store: Awaited<ReturnType<typeof stores>>[number]) {
  const server = await startServerProcess(store.args);
  const client = new QgjobClient({ server: server.url });
  const per = 1000;
  for (let i = 0; i < JOBS; i += per) {
    const tests = Array.from({ length: Math.min(per, JOBS - i) }, (_, k) => `t/${i + k}.js`);
    await client.submit({ org_id: `org${(i / per) % 2}`, app_version_id: `v${i / per}`, tests });
  }
  const perAgent = Math.ceil(DEVICES / AGENTS);
  const agents = Array.from({ length: AGENTS }, (_, a) =>
    startAgent({
      server: server.url,
      name: `bench-${a}`,
      executor: 'simulate',
      simTestMs: 0,
      simInstallMs: 0,
      logger: silentLogger,
      devices: Array.from({ length: perAgent }, (_, d) => ({ target: 'emulator' as const, name: `e${a}-${d}` })),
    }),
  );
  const t0 = performance.now();
  await Promise.all(agents.map((a) => a.ready));
  await waitFinished(server.url, JOBS);
  const seconds = (performance.now() - t0) / 1000;

  // Latency: devices idle and long-polling; one job at a time, 10 ms apart.
  const ids: string[] = [];
  for (let i = 0; i < LATENCY_JOBS; i++) {
    const res = await client.submit({ org_id: 'lat', app_version_id: 'l1', test_path: `lat/${i}.js` });
    ids.push(res.jobs[0]?.id as string);
    await new Promise((r) => setTimeout(r, 10));
  }
  await waitFinished(server.url, JOBS + LATENCY_JOBS);
  const latencies: number[] = [];
  await pool(ids.length, 16, async (i) => {
    const job = await client.getJob(ids[i] as string);
    latencies.push(Date.parse(job.runs[0]?.started_at ?? '') - Date.parse(job.created_at));
  });
  latencies.sort((a, b) => a - b);
  await Promise.all(agents.map((a) => a.stop()));
  await server.stop();
  return { rate: JOBS / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function pgBoss(): Promise<number> {
  const database = await createDatabase(requireBenchPostgres(), 'qgjob_pgboss');
  const boss = new PgBoss({ connectionString: database.url, max: 20 });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('bench');
  for (let i = 0; i < JOBS; i += 1000) {
    await boss.insert(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'bench', data: {} })));
  }
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const jobs = await boss.fetch('bench', { batchSize: 100 });
        if (jobs.length === 0) return;
        await boss.complete(
          'bench',
          jobs.map((j) => j.id),
        );
        done += jobs.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await boss.stop({ graceful: false, wait: true });
  await database.drop();
  if (done !== JOBS) throw new Error(`pg-boss completed ${done} of ${JOBS}`);
  return done / seconds;
}

async function main(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  const boss = benchPostgresUrl ? await pgBoss() : undefined;
  for (const store of await stores()) {
    try {
      const r = await ours(store);
      rows.push({
        store: store.name,
        'jobs/s (claim+run+report)': Math.round(r.rate),
        'submit→start p50 ms': r.p50.toFixed(1),
        'submit→start p99 ms': r.p99.toFixed(1),
        'pg-boss 10 jobs/s (fetch+complete)': boss && store.name === 'postgres' ? Math.round(boss) : '-',
        'ours ÷ pg-boss': boss && store.name === 'postgres' ? (r.rate / boss).toFixed(2) : '-',
      });
    } finally {
      await store.cleanup();
    }
  }
  console.log(
    `bench/dispatch: ${JOBS} zero-length jobs, ${DEVICES} devices on ${AGENTS} agents; latency over ${LATENCY_JOBS} single submits`,
  );
  console.log(table(rows));
  await writeResults('dispatch', {
    params: { JOBS, DEVICES, AGENTS, LATENCY_JOBS },
    rows,
    postgresUrl: benchPostgresUrl,
  });
}

await main();
