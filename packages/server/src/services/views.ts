/** Database rows → the API's JSON shapes (protocol types). */
import type { Job, JobSummary, Run, SubmittedJob } from '@qgjob/protocol';
import type { JobRow, RunRow } from '../store/rows.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function jobSummary(row: JobRow): JobSummary {
  return {
    id: row.id,
    submission_id: row.submission_id,
    status: row.status,
    org_id: row.org_id,
    app_version_id: row.app_version_id,
    test_path: row.test_path,
    target: row.target,
    priority: row.priority,
    max_retries: row.max_retries,
    attempts: row.attempts,
    flaky: row.flaky,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    error: row.error,
    bundle_sha256: row.bundle_sha256,
  };
}

export function runView(row: RunRow): Run {
  return {
    id: row.id,
    n: row.n,
    status: row.status,
    agent: row.agent,
    device: row.device,
    batch_id: row.batch_id,
    app_installed: row.app_installed,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    duration_ms: row.duration_ms,
    error: row.error,
  };
}

export function jobView(row: JobRow, runs: RunRow[]): Job {
  return { ...jobSummary(row), runs: runs.map(runView) };
}

export function submittedJob(row: JobRow, deduplicated: boolean): SubmittedJob {
  return {
    id: row.id,
    status: row.status,
    deduplicated,
    org_id: row.org_id,
    app_version_id: row.app_version_id,
    test_path: row.test_path,
    target: row.target,
    priority: row.priority,
  };
}
