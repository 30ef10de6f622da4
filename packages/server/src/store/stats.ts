import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export async function queueDepthByTarget(q: Queryable): Promise<Map<Target, number>> {
  const { rows } = await q.query<{ target: Target; n: number }>(
    `SELECT target, count(*)::int AS n FROM jobs WHERE status = 'queued' GROUP BY target`,
  );
  return new Map(rows.map((r) => [r.target, r.n]));
}

/** Devices per target and state: busy (holding a batch), idle (heard from lately), offline. */
export async function devicesByState(
  q: Queryable,
  aliveMs: number,
): Promise<{ target: Target; state: string; n: number }[]> {
  const { rows } = await q.query<{ target: Target; state: string; n: number }>(
    `SELECT target,
            CASE WHEN last_seen_at <= now() - make_interval(secs => $1::float8 / 1000) THEN 'offline'
                 WHEN batch_id IS NOT NULL THEN 'busy' ELSE 'idle' END AS state,
            count(*)::int AS n
       FROM devices GROUP BY 1, 2`,
    [aliveMs],
  );
  return rows;
}
