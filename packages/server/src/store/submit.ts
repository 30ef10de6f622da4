/**
 * The submit statement. Every submit writes its jobs and its submission row through it, so
 * the all-new case and the deduplicated one cannot drift apart: an all-new submit is one
 * run of it; a submit with queued or running twins is one run, a lookup of the twins
 * (findActiveJobs), and one more run that creates the rest and writes the submission.
 *
 * Rejected: finding the twins inside this statement too (a deduplicated submit in one round
 * trip instead of three). The lookup, and the submission built from its answer, tripled the
 * statement's planning time on PGlite (0.23 ms to 0.7-1.0 ms), which every submit pays:
 * single submits in process fell from about 870/s to 510/s.
 */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { ACTIVE_STATUSES_SQL, JOB_COLUMNS, type JobRow } from './rows.js';

/** The conflict target of dedup: the partial unique index jobs_active_identity. */
const ACTIVE_IDENTITY = `(org_id, app_version_id, target, test_path, (coalesce(bundle_sha256, '')))
     WHERE status IN ${ACTIVE_STATUSES_SQL}`;

export interface SubmitJobs {
  submissionId: string;
  orgId: string;
  appVersionId: string;
  target: Target;
  priority: number;
  maxRetries: number;
  bundleSha256: string | null;
  /** Claimed by the first run; null once this transaction holds it, or without one. */
  idempotencyKey: string | null;
  requestHash: string | null;
  /** The jobs to create: tests with no known twin, sorted, so concurrent submits lock in one order. */
  ids: string[];
  testPaths: string[];
  /** The submission as recorded once every job above is created: in submit order. */
  jobIds: string[];
  deduplicated: boolean[];
}

export interface SubmitJobsResult {
  /** The jobs created; a test missing from them has a queued or running twin. */
  rows: JobRow[];
  /** Every job was created and the submission row written. */
  complete: boolean;
  /** The idempotency key belongs to an earlier submission; nothing was written. */
  keyTaken: boolean;
}

/**
 * Claims the idempotency key (if any), inserts the jobs, skipping any whose identical twin
 * is still queued or running (the partial unique index decides, so concurrent submits
 * cannot both win), and writes the submission row when every job went in.
 */
export async function submitJobs(q: Queryable, s: SubmitJobs): Promise<SubmitJobsResult> {
  const { rows } = await q.query<JobRow & { complete: boolean; key_taken: boolean }>(
    `WITH key AS (
       INSERT INTO idempotency_keys (org_id, key, request_hash, submission_id)
       SELECT $2, $9, $10, $1 WHERE $9::text IS NOT NULL
       ON CONFLICT DO NOTHING
       RETURNING 1),
     ins AS (
       INSERT INTO jobs (id, submission_id, org_id, app_version_id, target, priority, max_retries, test_path, bundle_sha256)
       SELECT id, $1, $2, $3, $4, $5, $6, test_path, $13
         FROM unnest($7::text[], $8::text[]) AS t(id, test_path)
        WHERE $9::text IS NULL OR EXISTS (SELECT 1 FROM key)
       ON CONFLICT ${ACTIVE_IDENTITY}
       DO NOTHING
       RETURNING ${JOB_COLUMNS}),
     sub AS (
       INSERT INTO submissions (id, org_id, job_ids, deduplicated)
       SELECT $1, $2, $11::text[], $12::boolean[]
        WHERE (SELECT count(*) FROM ins) = cardinality($7::text[])
          AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM key))
       RETURNING 1),
     outcome AS (
       SELECT EXISTS (SELECT 1 FROM sub) AS complete,
              ($9::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM key)) AS key_taken)
     SELECT ins.*, outcome.* FROM outcome LEFT JOIN ins ON true`,
    [
      s.submissionId,
      s.orgId,
      s.appVersionId,
      s.target,
      s.priority,
      s.maxRetries,
      s.ids,
      s.testPaths,
      s.idempotencyKey,
      s.requestHash,
      s.jobIds,
      s.deduplicated,
      s.bundleSha256,
    ],
  );
  const first = rows[0];
  return {
    rows: rows.filter((r) => r.id !== null),
    complete: first?.complete === true,
    keyTaken: first?.key_taken === true,
  };
}
