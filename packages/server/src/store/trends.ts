/**
 * SQL of the trends (`GET /v1/trends`): one row per target per sampling interval in
 * `farm_samples`, written by whichever job-server samples that interval first, kept 24 hours.
 *
 * What a sample costs: the queue per target counts the queued jobs (partial index
 * `jobs_ready`, as `qgjob_queue_depth` does), the installs read the batches leased in the
 * interval (`batches_created`), the devices are one row each. Once a minute by default.
 */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface SampleRow {
  target: Target;
  at: Date;
  queued: number;
  oldest_wait_ms: number;
  installs_made: number;
  installs_avoided: number;
  devices: number;
  busy: number;
}

/**
 * Writes the sample of the interval ending at `at` for every target, unless another
 * job-server wrote it already: the queue and the devices as they are now, the batches leased
 * in the interval. `aliveMs`: a device heard from within this counts.
 */
export async function writeSample(
  q: Queryable,
  s: { at: Date; intervalMs: number; aliveMs: number; targets: readonly Target[] },
): Promise<number> {
  const { rowCount } = await q.query(
    `INSERT INTO farm_samples (target, at, queued, oldest_wait_ms, installs_made, installs_avoided, devices, busy)
     SELECT t.target, $1::timestamptz,
            coalesce(qd.queued, 0), coalesce(qd.oldest_wait_ms, 0),
            coalesce(bt.made, 0), coalesce(bt.avoided, 0),
            coalesce(dv.devices, 0), coalesce(dv.busy, 0)
       FROM unnest($4::text[]) AS t(target)
       LEFT JOIN (
         SELECT target, count(*)::int AS queued,
                greatest(0, extract(epoch FROM now() - min(queued_at)) * 1000)::bigint AS oldest_wait_ms
           FROM jobs WHERE status = 'queued' GROUP BY target) qd ON qd.target = t.target
       LEFT JOIN (
         SELECT target, (count(*) FILTER (WHERE install))::int AS made,
                (sum(size) - count(*) FILTER (WHERE install))::int AS avoided
           FROM batches
          WHERE created_at > $1::timestamptz - make_interval(secs => $2::float8 / 1000) AND created_at <= $1::timestamptz
          GROUP BY target) bt ON bt.target = t.target
       LEFT JOIN (
         SELECT target, count(*)::int AS devices, (count(*) FILTER (WHERE batch_id IS NOT NULL))::int AS busy
           FROM devices
          WHERE last_seen_at > now() - make_interval(secs => $3::float8 / 1000) OR batch_id IS NOT NULL
          GROUP BY target) dv ON dv.target = t.target
     ON CONFLICT (target, at) DO NOTHING`,
    [s.at, s.intervalMs, s.aliveMs, s.targets],
  );
  return rowCount ?? 0;
}

export async function samplesSince(q: Queryable, from: Date): Promise<SampleRow[]> {
  const { rows } = await q.query<SampleRow>(
    `SELECT target, at, queued, oldest_wait_ms::float8 AS oldest_wait_ms, installs_made, installs_avoided, devices, busy
       FROM farm_samples WHERE at >= $1 ORDER BY target, at`,
    [from],
  );
  return rows;
}

export async function pruneSamples(q: Queryable, before: Date): Promise<void> {
  await q.query('DELETE FROM farm_samples WHERE at < $1', [before]);
}
