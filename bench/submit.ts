/**
 * Submit throughput: single-job submits at concurrency 32, and bulk submits of 1,000
 * tests, against a job-server process on PGlite and on PostgreSQL.
 *   npm run bench:submit             (PostgreSQL from QGJOB_BENCH_DATABASE_URL or QGJOB_TEST_DATABASE_URL)
 *   SINGLE=20000 BULK=40 npm run bench:submit
 */
import { benchPostgresUrl, percentile, pool, request, startServerProcess, stores, table, writeResults } from './lib.js';

const SINGLE = Number(process.env.SINGLE ?? 20_000);
const BULK = Number(process.env.BULK ?? 40);
const BULK_SIZE = 1000;
const CONCURRENCY = 32;

async function main(): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  for (const store of await stores()) {
    const server = await startServerProcess(store.args);
    try {
      // Warm up the connection pool and JIT.
      await pool(500, CONCURRENCY, async (i) => {
        await request(`${server.url}/v1/jobs`, 'POST', { org_id: 'warm', app_version_id: 'w', test_path: `w/${i}.js` });
      });
      const latencies: number[] = [];
      let failures = 0;
      const singleMs = await pool(SINGLE, CONCURRENCY, async (i) => {
        const t = performance.now();
        const res = await request(`${server.url}/v1/jobs`, 'POST', {
          org_id: `org${i % 8}`,
          app_version_id: `v${i % 5}`,
          test_path: `tests/single/${i}.spec.js`,
        });
        latencies.push(performance.now() - t);
        if (res.status !== 201) failures++;
      });
      latencies.sort((a, b) => a - b);
      const bulkMs = await pool(BULK, 4, async (i) => {
        const tests = Array.from({ length: BULK_SIZE }, (_, k) => `tests/bulk/${i}/${k}.spec.js`);
        const res = await request(`${server.url}/v1/jobs`, 'POST', { org_id: 'bulk', app_version_id: `b${i}`, tests });
        if (res.status !== 201) failures++;
      });
      rows.push({
        store: store.name,
        'single submits/s (c=32)': Math.round(SINGLE / (singleMs / 1000)),
        'single p50 ms': percentile(latencies, 50).toFixed(1),
        'single p99 ms': percentile(latencies, 99).toFixed(1),
        'bulk jobs/s (1,000 per submit)': Math.round((BULK * BULK_SIZE) / (bulkMs / 1000)),
        failures,
      });
    } finally {
      await server.stop();
      await store.cleanup();
    }
  }
  console.log(`bench/submit: ${SINGLE} single submits, ${BULK} bulk submits of ${BULK_SIZE} tests`);
  console.log(table(rows));
  await writeResults('submit', {
    params: { SINGLE, BULK, BULK_SIZE, CONCURRENCY },
    rows,
    postgresUrl: benchPostgresUrl,
  });
}

await main();
