import type { JobStatus, RunStatus, Target } from '@qgjob/protocol';

export interface JobRow {
  id: string;
  submission_id: string;
  org_id: string;
  app_version_id: string;
  test_path: string;
  target: Target;
  priority: number;
  max_retries: number;
  status: JobStatus;
  attempts: number;
  flaky: boolean;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  bundle_sha256: string | null;
}

export interface RunRow {
  id: string;
  job_id: string;
  n: number;
  status: RunStatus;
  agent: string | null;
  device: string | null;
  batch_id: string | null;
  app_installed: boolean;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  error: string | null;
}

export interface SubmissionRow {
  id: string;
  org_id: string;
  job_ids: string[];
  deduplicated: boolean[];
  created_at: Date;
}

export const JOB_COLUMNS = `id, submission_id, org_id, app_version_id, test_path, target, priority, max_retries,
  status, attempts, flaky, error, created_at, started_at, finished_at, bundle_sha256`;

export const ACTIVE_STATUSES_SQL = `('queued', 'assigned', 'running')`;
