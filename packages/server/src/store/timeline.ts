/**
 * SQL of the device timeline (`GET /v1/timeline`): the batches of a window with their runs,
 * and the health changes of devices; plus the two writes the scheduler makes for it (a
 * batch told to yield, a device quarantined or healthy again). Read-only statements take no
 * locks.
 *
 * What each read costs: the batches of a window are the active ones (partial index
 * `batches_active`) and those that ended in it (`batches_finished`), at most `limit`; their
 * runs come by `runs_by_batch`. Nothing here grows with the jobs queued or the history kept.
 */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface TimelineBatchRow {
  id: string;
  device_id: string;
  org_id: string;
  app_version_id: string;
  target: Target;
  install: boolean;
  state: 'active' | 'done' | 'expired';
  created_at: Date;
  finished_at: Date | null;
  yielded_at: Date | null;
}

/**
 * The batches on a device at any time since `from`: still active, or ended at or after
 * `from`. The `limit` that ended last (active ones first), then put in start order.
 */
export async function batchesSince(q: Queryable, from: Date, limit: number): Promise<TimelineBatchRow[]> {
  const { rows } = await q.query<TimelineBatchRow>(
    `SELECT * FROM (
       SELECT id, device_id, org_id, app_version_id, target, install, state, created_at, finished_at, yielded_at
         FROM batches
        WHERE state = 'active' OR finished_at >= $1
        ORDER BY finished_at DESC NULLS FIRST, id DESC
        LIMIT $2) window_batches
      ORDER BY created_at, id`,
    [from, limit],
  );
  return rows;
}

export interface TimelineRunRow {
  batch_id: string;
  job_id: string;
  test_path: string;
  n: number;
  status: string;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  app_installed: boolean;
}

/**
 * The runs of these batches with their tests, in start order within each batch (runs started
 * by one report share its moment: then by when they ended).
 */
export async function runsOfBatches(q: Queryable, batchIds: string[]): Promise<TimelineRunRow[]> {
  if (batchIds.length === 0) return [];
  const { rows } = await q.query<TimelineRunRow>(
    `SELECT r.batch_id, r.job_id, j.test_path, r.n, r.status, r.started_at, r.finished_at, r.duration_ms,
            r.app_installed
       FROM runs r JOIN jobs j ON j.id = r.job_id
      WHERE r.batch_id = ANY($1::text[])
      ORDER BY r.batch_id, r.started_at NULLS LAST, r.finished_at NULLS LAST, r.id`,
    [batchIds],
  );
  return rows;
}

export interface DeviceEventRow {
  device_id: string;
  kind: 'quarantined' | 'healed';
  at: Date;
  until: Date | null;
}

/** Health changes in the window, and the quarantines begun before it that last into it. */
export async function deviceEventsSince(q: Queryable, from: Date): Promise<DeviceEventRow[]> {
  const { rows } = await q.query<DeviceEventRow>(
    `SELECT device_id, kind, at, until FROM device_events
     WHERE at >= $1 OR (kind = 'quarantined' AND until > $1)
     ORDER BY at, device_id`,
    [from],
  );
  return rows;
}

export async function insertDeviceEvent(
  q: Queryable,
  e: { deviceId: string; kind: 'quarantined' | 'healed'; until: Date | null },
): Promise<void> {
  await q.query('INSERT INTO device_events (device_id, kind, until) VALUES ($1, $2, $3)', [
    e.deviceId,
    e.kind,
    e.until,
  ]);
}

/** Health changes older than the longest window, and a day more. */
export async function pruneDeviceEvents(q: Queryable, before: Date): Promise<void> {
  await q.query('DELETE FROM device_events WHERE at < $1', [before]);
}

/** The first time the batch is told to yield; later answers keep that moment. */
export async function markYielded(q: Queryable, batchId: string): Promise<void> {
  await q.query('UPDATE batches SET yielded_at = now() WHERE id = $1 AND yielded_at IS NULL', [batchId]);
}
