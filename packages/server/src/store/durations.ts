/** SQL of the duration history that sizes batches by time: tests and installs, running averages. */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

/** Weight of the newest run in a running average. */
const NEWEST = 0.3;

/**
 * Counts finished runs (passed or failed) of one batch's group into their tests' averages.
 * One row per test path: a report naming one test twice (two bundles) counts its last run.
 */
export async function recordTestDurations(
  q: Queryable,
  r: { orgId: string; target: Target; appVersionId: string; jobIds: string[]; durations: number[] },
): Promise<void> {
  await q.query(
    `INSERT INTO test_durations AS t (org_id, target, test_path, app_version_id, avg_ms, runs)
     SELECT DISTINCT ON (j.test_path) $1, $2, j.test_path, $3, d.ms, 1
       FROM unnest($4::text[], $5::float8[]) WITH ORDINALITY AS d(job_id, ms, ord)
       JOIN jobs j ON j.id = d.job_id
      ORDER BY j.test_path, d.ord DESC
     ON CONFLICT (org_id, target, test_path) DO UPDATE
        SET avg_ms = t.avg_ms * (1 - ${NEWEST}) + EXCLUDED.avg_ms * ${NEWEST}, runs = t.runs + 1,
            app_version_id = EXCLUDED.app_version_id, updated_at = now()`,
    [r.orgId, r.target, r.appVersionId, r.jobIds, r.durations],
  );
}

export async function recordInstallDuration(
  q: Queryable,
  r: { orgId: string; appVersionId: string; target: Target; durationMs: number },
): Promise<void> {
  await q.query(
    `INSERT INTO install_durations AS i (org_id, app_version_id, target, avg_ms, installs)
     VALUES ($1, $2, $3, $4, 1)
     ON CONFLICT (org_id, app_version_id, target) DO UPDATE
        SET avg_ms = i.avg_ms * (1 - ${NEWEST}) + EXCLUDED.avg_ms * ${NEWEST}, installs = i.installs + 1,
            updated_at = now()`,
    [r.orgId, r.appVersionId, r.target, r.durationMs],
  );
}

/** What an install takes on a target lately: the mean of its most recently installed builds (null: never measured). */
export async function recentInstallMs(q: Queryable, target: Target): Promise<number | null> {
  const { rows } = await q.query<{ ms: number | null }>(
    `SELECT avg(avg_ms)::float8 AS ms FROM (
       SELECT avg_ms FROM install_durations WHERE target = $1 ORDER BY updated_at DESC LIMIT 20) recent`,
    [target],
  );
  return rows[0]?.ms ?? null;
}
