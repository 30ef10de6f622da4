import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { DEVICE_STATE } from './agents.js';

export async function queueDepthByTarget(q: Queryable): Promise<Map<Target, number>> {
  const { rows } = await q.query<{ target: Target; n: number }>(
    `SELECT target, count(*)::int AS n FROM jobs WHERE status = 'queued' GROUP BY target`,
  );
  return new Map(rows.map((r) => [r.target, r.n]));
}

/** Devices per target and state (DEVICE_STATE). */
export async function devicesByState(
  q: Queryable,
  offlineMs: number,
): Promise<{ target: Target; state: string; n: number }[]> {
  const { rows } = await q.query<{ target: Target; state: string; n: number }>(
    `SELECT d.target, ${DEVICE_STATE('$1')} AS state, count(*)::int AS n FROM devices d GROUP BY 1, 2`,
    [offlineMs],
  );
  return rows;
}
