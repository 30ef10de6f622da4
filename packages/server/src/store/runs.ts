import type { Queryable } from '../db/db.js';
import type { RunRow } from './rows.js';

const RUN_COLUMNS = 'id, job_id, n, status, agent, device, batch_id, app_installed, started_at, finished_at, error';

export async function getRunsOfJob(q: Queryable, jobId: string): Promise<RunRow[]> {
  const { rows } = await q.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE job_id = $1 ORDER BY n`, [jobId]);
  return rows;
}
