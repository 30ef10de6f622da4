/**
 * npm run chaos — three job-servers on PostgreSQL, four agents (16 simulated devices) and a
 * black-hole device (every install fails), 3,000 jobs; mid-run it SIGKILLs a job-server, SIGKILLs an agent and restarts PostgreSQL,
 * then checks the invariants and prints them. Then the same on one embedded (PGlite)
 * job-server, killed with -9 mid-run and restarted. Exits 1 if any invariant fails.
 *   PostgreSQL from QGJOB_BENCH_DATABASE_URL or QGJOB_TEST_DATABASE_URL (it is restarted!).
 *   JOBS=3000 TEST_MS=50 npm run chaos
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, runChaos } from '../tests/chaos/chaos.js';
import { createDatabase } from '../tests/helpers/db.js';
import { benchPostgresUrl } from './lib.js';

const JOBS = Number(process.env.JOBS ?? 3000);
const TEST_MS = Number(process.env.TEST_MS ?? 50);
const base = {
  agents: 4,
  devicesPerAgent: 4,
  jobs: JOBS,
  testMs: TEST_MS,
  installMs: 100,
  leaseMs: 3000,
  sweepMs: 500,
  blackHole: true,
  timeoutMs: 300_000,
  log: (line: string) => console.log(`  ${line}`),
};

async function main(): Promise<void> {
  let ok = true;
  if (benchPostgresUrl) {
    const database = await createDatabase(benchPostgresUrl, 'qgjob_chaos');
    console.log(
      `chaos on PostgreSQL: 3 job-servers, ${base.agents} agents × ${base.devicesPerAgent} devices, ${JOBS} jobs`,
    );
    const report = await runChaos({
      ...base,
      store: { databaseUrl: database.url },
      servers: 3,
      restartPostgres: true,
    });
    console.log(formatReport('result', report));
    ok &&= report.invariants.every((i) => i.ok);
    await database.drop();
  } else {
    console.log('PostgreSQL part skipped: set QGJOB_BENCH_DATABASE_URL or QGJOB_TEST_DATABASE_URL');
  }
  const dir = mkdtempSync(join(tmpdir(), 'qgjob-chaos-'));
  console.log(`\nchaos on PGlite: 1 job-server killed with -9 and restarted, ${JOBS / 3} jobs`);
  const report = await runChaos({
    ...base,
    jobs: Math.round(JOBS / 3),
    store: { dataDir: join(dir, 'data') },
    servers: 1,
    restartPostgres: false,
  });
  console.log(formatReport('result', report));
  ok &&= report.invariants.every((i) => i.ok);
  rmSync(dir, { recursive: true, force: true });
  console.log(ok ? '\nall invariants hold' : '\nINVARIANT VIOLATED');
  process.exit(ok ? 0 : 1);
}

await main();
