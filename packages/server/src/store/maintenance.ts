/**
 * Upkeep PostgreSQL's autovacuum does on its own and the embedded store (PGlite, which runs
 * no background workers) needs done for it: fresh planner statistics, so the claim path's
 * index probes stay probes as the queue grows, and dead rows reclaimed, so those probes do
 * not walk past the jobs that already left the queue.
 */
import type { Queryable } from '../db/db.js';

/** The tables the claim and report paths read. */
const HOT_TABLES = 'jobs, runs, batches, devices, device_apps, test_durations';

export async function analyzeHotTables(q: Queryable): Promise<void> {
  await q.exec(`ANALYZE ${HOT_TABLES}`);
}

export async function vacuumHotTables(q: Queryable): Promise<void> {
  await q.exec(`VACUUM (ANALYZE) ${HOT_TABLES}`);
}
