import type { Queryable } from '../db/db.js';
import type { SubmissionRow } from './rows.js';

export async function getSubmission(q: Queryable, id: string): Promise<SubmissionRow | undefined> {
  const { rows } = await q.query<SubmissionRow>(
    'SELECT id, org_id, job_ids, deduplicated, created_at FROM submissions WHERE id = $1',
    [id],
  );
  return rows[0];
}

export async function getIdempotencyKey(
  q: Queryable,
  orgId: string,
  key: string,
): Promise<{ request_hash: string; submission_id: string } | undefined> {
  const { rows } = await q.query<{ request_hash: string; submission_id: string }>(
    'SELECT request_hash, submission_id FROM idempotency_keys WHERE org_id = $1 AND key = $2',
    [orgId, key],
  );
  return rows[0];
}
