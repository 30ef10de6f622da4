/** SQL for jobs: one function per statement, `$n` parameters only. */
import type { JobStatus, Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { ACTIVE_STATUSES_SQL, JOB_COLUMNS, type JobRow } from './rows.js';

/** The unfinished jobs with these identities (what a deduplicated submit returns). */
export async function findActiveJobs(
  q: Queryable,
  key: { orgId: string; appVersionId: string; target: Target; testPaths: string[]; bundleSha256: string | null },
): Promise<JobRow[]> {
  const { rows } = await q.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs
      WHERE org_id = $1 AND app_version_id = $2 AND target = $3 AND test_path = ANY($4::text[])
        AND coalesce(bundle_sha256, '') = coalesce($5::text, '')
        AND status IN ${ACTIVE_STATUSES_SQL}`,
    [key.orgId, key.appVersionId, key.target, key.testPaths, key.bundleSha256],
  );
  return rows;
}

export async function getJob(q: Queryable, id: string): Promise<JobRow | undefined> {
  const { rows } = await q.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
  return rows[0];
}

export async function getJobsByIds(q: Queryable, ids: string[]): Promise<JobRow[]> {
  const { rows } = await q.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[])`, [ids]);
  return rows;
}

export interface JobFilter {
  orgId?: string;
  status?: JobStatus;
  appVersionId?: string;
  target?: Target;
  submissionId?: string;
  /** Only ids below this one (the page after). */
  beforeId?: string;
  limit: number;
}

/** Newest first. */
export async function listJobs(q: Queryable, f: JobFilter): Promise<JobRow[]> {
  const { rows } = await q.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs
      WHERE ($1::text IS NULL OR org_id = $1)
        AND ($2::text IS NULL OR status = $2)
        AND ($3::text IS NULL OR app_version_id = $3)
        AND ($4::text IS NULL OR target = $4)
        AND ($5::text IS NULL OR submission_id = $5)
        AND ($6::text IS NULL OR id < $6)
      ORDER BY id DESC
      LIMIT $7`,
    [
      f.orgId ?? null,
      f.status ?? null,
      f.appVersionId ?? null,
      f.target ?? null,
      f.submissionId ?? null,
      f.beforeId ?? null,
      f.limit,
    ],
  );
  return rows;
}

/**
 * Cancels the job if it has not finished: queued, assigned to a batch, or running. It
 * keeps its batch_id, so the batch's next report tells the agent to stop it. Returns
 * the row and the status it had, when it did.
 */
export async function cancelJob(
  q: Queryable,
  id: string,
  reason: string,
): Promise<{ row: JobRow; was: JobStatus } | undefined> {
  const { rows } = await q.query<JobRow & { was: JobStatus }>(
    `WITH before AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE)
     UPDATE jobs SET status = 'cancelled', finished_at = now(), error = $2
       FROM before
      WHERE jobs.id = before.id AND before.status IN ${ACTIVE_STATUSES_SQL}
      RETURNING ${JOB_COLUMNS.split(',')
        .map((c) => `jobs.${c.trim()}`)
        .join(', ')}, before.status AS was`,
    [id, reason],
  );
  const row = rows[0];
  return row ? { row, was: row.was } : undefined;
}

/** Ends the job's running run, if any, as cancelled. */
export async function cancelRunningRun(q: Queryable, jobId: string): Promise<void> {
  await q.query(
    `UPDATE runs SET status = 'cancelled', finished_at = now(),
            duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int, error = 'cancelled by request'
      WHERE job_id = $1 AND status = 'running'`,
    [jobId],
  );
}

/** Wakes every job-server's long-polls waiting for work on this target (sent on its own, not in a transaction). */
export async function notifyQueued(q: Queryable, target: Target, count: number): Promise<void> {
  const n = Number.isFinite(count) ? Math.max(1, Math.round(count)) : 0;
  await q.query(`SELECT pg_notify('qgjob_queued', $1)`, [`${target}:${n || 'all'}`]);
}

/** Jobs of an org waiting in the queue (the per-org cap), counted up to `upTo`. */
export async function countQueuedOfOrg(q: Queryable, orgId: string, upTo: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM jobs WHERE org_id = $1 AND status = 'queued' LIMIT $2) queued`,
    [orgId, upTo],
  );
  return rows[0]?.n ?? 0;
}

/** Tells every job-server that these jobs' status changed (sent on its own, not in a transaction). */
export async function notifyJobsChanged(q: Queryable, payload: string): Promise<void> {
  await q.query(`SELECT pg_notify('qgjob_job_changed', $1)`, [payload]);
}
