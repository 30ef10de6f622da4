/** SQL for runs and the job transitions they drive. */
import type { Queryable } from '../db/db.js';
import type { RunRow } from './rows.js';

const RUN_COLUMNS =
  'id, job_id, n, status, agent, device, batch_id, app_installed, started_at, finished_at, duration_ms, error';

export async function getRunsOfJob(q: Queryable, jobId: string): Promise<RunRow[]> {
  const { rows } = await q.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE job_id = $1 ORDER BY n`, [jobId]);
  return rows;
}

export interface FinishedRun {
  job_id: string;
  n: number;
  duration_ms: number | null;
  max_retries: number;
  infra_failures: number;
  /** Runs of this job that failed by the test's own verdict, this one included. */
  test_failures: number;
}

/** Ends the job's running run in this batch; undefined if there is none (repeat, or fenced). */
export async function finishRun(
  q: Queryable,
  r: {
    jobId: string;
    batchId: string;
    status: 'passed' | 'failed' | 'errored' | 'lost';
    error: string | null;
    durationMs: number | null;
  },
): Promise<FinishedRun | undefined> {
  const { rows } = await q.query<FinishedRun>(
    `WITH r AS (
       UPDATE runs SET status = $3, error = $4, finished_at = now(),
              duration_ms = coalesce($5::int, (extract(epoch FROM now() - started_at) * 1000)::int)
        WHERE job_id = $1 AND batch_id = $2 AND status = 'running'
        RETURNING job_id, n, duration_ms)
     SELECT r.job_id, r.n, r.duration_ms, j.max_retries, j.infra_failures,
            (SELECT count(*)::int FROM runs x WHERE x.job_id = r.job_id AND (x.status = 'failed' OR x.n = r.n AND $3 = 'failed'))
              AS test_failures
       FROM r JOIN jobs j ON j.id = r.job_id`,
    [r.jobId, r.batchId, r.status, r.error, r.durationMs],
  );
  return rows[0];
}

/** The final status of a job; `flaky` when it passed after a failed run. A cancelled job stays cancelled. */
export async function completeJob(
  q: Queryable,
  j: { jobId: string; status: 'passed' | 'failed' | 'errored'; error: string | null },
): Promise<void> {
  await q.query(
    `UPDATE jobs SET status = $2, error = $3, finished_at = now(), batch_id = NULL,
            flaky = ($2 = 'passed' AND EXISTS (SELECT 1 FROM runs WHERE job_id = $1 AND status = 'failed'))
      WHERE id = $1 AND status IN ('assigned', 'running')`,
    [j.jobId, j.status, j.error],
  );
}

/**
 * Back to the queue for another run, not before `delayMs`. An infrastructure error
 * counts against its budget and steers the next run away from the device it failed on.
 */
export async function requeueJob(
  q: Queryable,
  j: { jobId: string; delayMs: number; infra: boolean; deviceId: string | null },
): Promise<void> {
  await q.query(
    `UPDATE jobs SET status = 'queued', batch_id = NULL,
            run_after = now() + make_interval(secs => $2::float8 / 1000),
            infra_failures = infra_failures + CASE WHEN $3 THEN 1 ELSE 0 END,
            avoid_device_id = CASE WHEN $3 THEN $4 ELSE avoid_device_id END
      WHERE id = $1 AND status IN ('assigned', 'running')`,
    [j.jobId, j.delayMs, j.infra, j.deviceId],
  );
}

/** Jobs of the batch with a run still going (started, never finished). */
export async function runningJobsOfBatch(q: Queryable, batchId: string): Promise<string[]> {
  const { rows } = await q.query<{ job_id: string }>(
    `SELECT job_id FROM runs WHERE batch_id = $1 AND status = 'running'`,
    [batchId],
  );
  return rows.map((r) => r.job_id);
}

export interface StartedRun {
  job_id: string;
  n: number;
  app_installed: boolean;
  /** Since the job (re)entered the queue. */
  wait_ms: number;
}

/**
 * `startRun` for many jobs of one batch in one statement. `firstJobId` is the job the
 * agent started first: if the batch installed and has no run yet, its run is the one
 * marked `app_installed`. Start times follow the agent's order (clock_timestamp, not the
 * transaction's now()), so "the first run of the batch" is well defined. Returns how many.
 */
export async function startRuns(
  q: Queryable,
  r: { jobIds: string[]; runIds: string[]; batchId: string; agent: string; device: string; batchInstalled: boolean },
): Promise<StartedRun[]> {
  const { rows } = await q.query<StartedRun>(
    `WITH first AS (SELECT NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = $3) AS is_first),
          ids AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(job_id, run_id, ord)),
          j AS (
            UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now())
              FROM ids
             WHERE jobs.id = ids.job_id AND jobs.batch_id = $3 AND jobs.status = 'assigned'
             RETURNING jobs.id, jobs.attempts, jobs.queued_at, ids.run_id, ids.ord)
     INSERT INTO runs (id, job_id, n, status, agent, device, batch_id, app_installed, started_at)
     SELECT j.run_id, j.id, j.attempts, 'running', $4, $5, $3, $6 AND first.is_first AND j.ord = 1, clock_timestamp()
       FROM j, first
      ORDER BY j.ord
     RETURNING job_id, n, app_installed,
               (extract(epoch FROM started_at - (SELECT queued_at FROM j WHERE j.id = runs.job_id)) * 1000)::float8 AS wait_ms`,
    [r.jobIds, r.runIds, r.batchId, r.agent, r.device, r.batchInstalled],
  );
  return rows;
}

/** Ends the running runs of these jobs in this batch as passed, and the jobs with them. Returns the runs ended. */
export async function passRuns(
  q: Queryable,
  r: { jobIds: string[]; durations: (number | null)[]; batchId: string },
): Promise<{ job_id: string; duration_ms: number | null }[]> {
  const { rows } = await q.query<{ job_id: string; duration_ms: number | null }>(
    `WITH r AS (
       UPDATE runs SET status = 'passed', finished_at = now(),
              duration_ms = coalesce(d.duration_ms, (extract(epoch FROM now() - runs.started_at) * 1000)::int)
         FROM unnest($1::text[], $2::int[]) AS d(job_id, duration_ms)
        WHERE runs.job_id = d.job_id AND runs.batch_id = $3 AND runs.status = 'running'
        RETURNING runs.job_id, runs.duration_ms)
     UPDATE jobs SET status = 'passed', error = NULL, finished_at = now(), batch_id = NULL,
            flaky = EXISTS (SELECT 1 FROM runs x WHERE x.job_id = jobs.id AND x.status = 'failed')
       FROM r WHERE jobs.id = r.job_id AND jobs.status = 'running'
     RETURNING r.job_id, r.duration_ms`,
    [r.jobIds, r.durations, r.batchId],
  );
  return rows;
}
