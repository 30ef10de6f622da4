/**
 * SQL of device pools: devices that share one limit on how many may be busy at once
 * (the agents of one BrowserStack account share its parallel-session limit).
 */
import type { Queryable } from '../db/db.js';

export async function upsertPool(q: Queryable, name: string, maxBusy: number): Promise<void> {
  await q.query(
    `INSERT INTO device_pools (name, max_busy) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET max_busy = EXCLUDED.max_busy, updated_at = now()`,
    [name, maxBusy],
  );
}

/**
 * Locks the pool (claims of its devices queue behind each other here, so two cannot both
 * take the last free slot). Undefined when no pool has this name.
 */
export async function lockPool(q: Queryable, name: string): Promise<{ maxBusy: number } | undefined> {
  const { rows } = await q.query<{ max_busy: number }>('SELECT max_busy FROM device_pools WHERE name = $1 FOR UPDATE', [
    name,
  ]);
  const pool = rows[0];
  return pool ? { maxBusy: pool.max_busy } : undefined;
}

/** How many of the pool's devices hold a batch; read under the pool's lock (lockPool). */
export async function countBusyInPool(q: Queryable, name: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM devices WHERE pool = $1 AND batch_id IS NOT NULL',
    [name],
  );
  return rows[0]?.n ?? 0;
}
