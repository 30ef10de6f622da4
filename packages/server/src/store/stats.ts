import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export async function queueDepthByTarget(q: Queryable): Promise<Map<Target, number>> {
  const { rows } = await q.query<{ target: Target; n: number }>(
    `SELECT target, count(*)::int AS n FROM jobs WHERE status = 'queued' GROUP BY target`,
  );
  return new Map(rows.map((r) => [r.target, r.n]));
}
