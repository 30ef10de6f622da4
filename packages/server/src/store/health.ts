import type { Queryable } from '../db/db.js';

export async function ping(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}
