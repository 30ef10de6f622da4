/** The short chaos run of `npm test`; `npm run chaos` is the full one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDatabase, postgresUrl } from '../helpers/db.js';
import { type ChaosOptions, formatReport, runChaos } from './chaos.js';

const small: Omit<ChaosOptions, 'store' | 'servers'> = {
  agents: 3,
  devicesPerAgent: 3,
  jobs: 360,
  testMs: 100,
  installMs: 50,
  leaseMs: 2000,
  sweepMs: 250,
  restartPostgres: false,
  blackHole: true,
  timeoutMs: 90_000,
};

describe('chaos (short)', () => {
  it.skipIf(!postgresUrl)(
    'three job-servers on PostgreSQL: SIGKILL a server and an agent mid-run, beside a black-hole device',
    async () => {
      const database = await createDatabase();
      try {
        const report = await runChaos({ ...small, store: { databaseUrl: database.url }, servers: 3 });
        console.log(formatReport('chaos on PostgreSQL, 3 job-servers', report));
        for (const i of report.invariants) expect(i.ok, `${i.name}: ${i.detail}`).toBe(true);
      } finally {
        await database.drop();
      }
    },
    180_000,
  );

  it('one embedded (PGlite) job-server: kill -9 it mid-run and restart it, SIGKILL an agent, beside a black-hole device', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgjob-chaos-'));
    try {
      const report = await runChaos({ ...small, store: { dataDir: join(dir, 'data') }, servers: 1 });
      console.log(formatReport('chaos on PGlite, 1 job-server', report));
      for (const i of report.invariants) expect(i.ok, `${i.name}: ${i.detail}`).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
