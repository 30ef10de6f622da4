/** SQL of test artifacts: one `run_artifacts` row per file of a run, its bytes a blob of the job's org. */
import type { Queryable } from '../db/db.js';

export interface RunningRunRow {
  job_id: string;
  n: number;
  org_id: string;
}

/**
 * The job's running run in this batch, with the job's org. `forUpdate` locks the run row
 * until the upload commits: uploads to one run take turns (so its caps hold), and a run
 * that finishes meanwhile waits for them, or is seen finished and takes no more files.
 */
export async function getRunningRun(
  q: Queryable,
  r: { batchId: string; jobId: string; forUpdate: boolean },
): Promise<RunningRunRow | undefined> {
  const { rows } = await q.query<RunningRunRow>(
    `SELECT r.job_id, r.n, j.org_id
       FROM runs r JOIN jobs j ON j.id = r.job_id
      WHERE r.batch_id = $1 AND r.job_id = $2 AND r.status = 'running'${r.forUpdate ? ' FOR UPDATE OF r' : ''}`,
    [r.batchId, r.jobId],
  );
  return rows[0];
}

/** Files and bytes the run holds, not counting the file called `exceptName` (an upload replaces it). */
export async function runArtifactTotals(
  q: Queryable,
  r: { jobId: string; n: number; exceptName: string },
): Promise<{ files: number; bytes: number }> {
  const { rows } = await q.query<{ files: number; bytes: number }>(
    `SELECT count(*)::int AS files, coalesce(sum(size), 0)::float8 AS bytes
       FROM run_artifacts WHERE job_id = $1 AND run_n = $2 AND name <> $3`,
    [r.jobId, r.n, r.exceptName],
  );
  return rows[0] ?? { files: 0, bytes: 0 };
}

export interface RunArtifactRow {
  run_n: number;
  name: string;
  sha256: string;
  size: number;
  content_type: string;
  created_at: Date;
}

const COLUMNS = 'run_n, name, sha256, size::float8 AS size, content_type, created_at';

/** Records the file of the run; a file of that name already there is replaced. */
export async function upsertRunArtifact(
  q: Queryable,
  a: { jobId: string; n: number; name: string; orgId: string; sha256: string; size: number; contentType: string },
): Promise<RunArtifactRow> {
  const { rows } = await q.query<RunArtifactRow>(
    `INSERT INTO run_artifacts (job_id, run_n, name, org_id, sha256, size, content_type)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (job_id, run_n, name)
     DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, content_type = EXCLUDED.content_type,
                   created_at = now()
     RETURNING ${COLUMNS}`,
    [a.jobId, a.n, a.name, a.orgId, a.sha256, a.size, a.contentType],
  );
  return rows[0] as RunArtifactRow;
}

/** Every file of every run of the job, by run, then name. */
export async function artifactsOfJob(q: Queryable, jobId: string): Promise<RunArtifactRow[]> {
  const { rows } = await q.query<RunArtifactRow>(
    `SELECT ${COLUMNS} FROM run_artifacts WHERE job_id = $1 ORDER BY run_n, name COLLATE "C"`,
    [jobId],
  );
  return rows;
}

/** One file of a run. */
export async function getRunArtifact(
  q: Queryable,
  a: { jobId: string; n: number; name: string },
): Promise<RunArtifactRow | undefined> {
  const { rows } = await q.query<RunArtifactRow>(
    `SELECT ${COLUMNS} FROM run_artifacts WHERE job_id = $1 AND run_n = $2 AND name = $3`,
    [a.jobId, a.n, a.name],
  );
  return rows[0];
}
