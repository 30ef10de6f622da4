import type { Queryable } from '../db/db.js';
import type { SubmissionRow } from './rows.js';

export async function insertSubmission(
  q: Queryable,
  s: { id: string; orgId: string; jobIds: string[]; deduplicated: boolean[] },
): Promise<SubmissionRow> {
  const { rows } = await q.query<SubmissionRow>(
    `INSERT INTO submissions (id, org_id, job_ids, deduplicated) VALUES ($1, $2, $3::text[], $4::boolean[])
     RETURNING id, org_id, job_ids, deduplicated, created_at`,
    [s.id, s.orgId, s.jobIds, s.deduplicated],
  );
  return rows[0] as SubmissionRow;
}

export async function getSubmission(q: Queryable, id: string): Promise<SubmissionRow | undefined> {
  const { rows } = await q.query<SubmissionRow>(
    'SELECT id, org_id, job_ids, deduplicated, created_at FROM submissions WHERE id = $1',
    [id],
  );
  return rows[0];
}

/**
 * Claims an idempotency key for a new submission. Returns undefined when the key was
 * new (the caller goes on to create the submission in the same transaction), or the
 * earlier request's hash and submission when it was already used. A concurrent claim
 * of the same key waits on the primary key until the first transaction ends.
 */
export async function claimIdempotencyKey(
  q: Queryable,
  k: { orgId: string; key: string; requestHash: string; submissionId: string },
): Promise<{ request_hash: string; submission_id: string } | undefined> {
  const inserted = await q.query(
    `INSERT INTO idempotency_keys (org_id, key, request_hash, submission_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [k.orgId, k.key, k.requestHash, k.submissionId],
  );
  if (inserted.rowCount === 1) return undefined;
  const { rows } = await q.query<{ request_hash: string; submission_id: string }>(
    'SELECT request_hash, submission_id FROM idempotency_keys WHERE org_id = $1 AND key = $2',
    [k.orgId, k.key],
  );
  return rows[0];
}
