/**
 * SQL of a submission's page (`GET /v1/submissions/{id}/runs`): its jobs (those it created
 * and those it was deduplicated onto) with every run and how many files each run left.
 * One statement, by the jobs' primary key and the runs' (job_id, n) key.
 */
import type { JobStatus, RunStatus, Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface SubmissionRunRow {
  job_id: string;
  test_path: string;
  app_version_id: string;
  target: Target;
  job_status: JobStatus;
  flaky: boolean;
  /** Null for a job that never ran (the LEFT JOIN). */
  n: number | null;
  status: RunStatus | null;
  agent: string | null;
  device: string | null;
  batch_id: string | null;
  app_installed: boolean | null;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  error: string | null;
  artifact_count: number;
}

export async function runsOfJobs(q: Queryable, jobIds: string[]): Promise<SubmissionRunRow[]> {
  const { rows } = await q.query<SubmissionRunRow>(
    `SELECT j.id AS job_id, j.test_path, j.app_version_id, j.target, j.status AS job_status, j.flaky,
            r.n, r.status, r.agent, r.device, r.batch_id, r.app_installed, r.started_at, r.finished_at,
            r.duration_ms, r.error,
            CASE WHEN r.n IS NULL THEN 0 ELSE
              (SELECT count(*)::int FROM run_artifacts a WHERE a.job_id = r.job_id AND a.run_n = r.n) END
              AS artifact_count
       FROM jobs j LEFT JOIN runs r ON r.job_id = j.id
      WHERE j.id = ANY($1::text[])
      ORDER BY j.test_path, j.id, r.n`,
    [jobIds],
  );
  return rows;
}
