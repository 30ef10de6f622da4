/** Database rows → the API's JSON shapes (protocol types). */
import type { Job, JobSummary, Run, RunArtifact, SubmittedJob } from '@qgjob/protocol';
import type { JobRow, RunRow } from '../store/rows.js';
import type { RunArtifactRow } from '../store/run-artifacts.js';

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

export function artifactView(row: RunArtifactRow): RunArtifact {
  return {
    name: row.name,
    size: row.size,
    sha256: row.sha256,
    content_type: row.content_type,
    created_at: row.created_at.toISOString(),
  };
}

/** Artifact rows (in order) grouped by run number. */
export function artifactsByRun(rows: RunArtifactRow[]): Map<number, RunArtifact[]> {
  const byRun = new Map<number, RunArtifact[]>();
  for (const row of rows) {
    const list = byRun.get(row.run_n) ?? [];
    list.push(artifactView(row));
    byRun.set(row.run_n, list);
  }
  return byRun;
}

export function runView(row: RunRow, artifacts: RunArtifact[]): Run {
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
    artifacts,
  };
}

export function jobView(row: JobRow, runs: RunRow[], artifacts: RunArtifactRow[]): Job {
  const byRun = artifactsByRun(artifacts);
  return { ...jobSummary(row), runs: runs.map((r) => runView(r, byRun.get(r.n) ?? [])) };
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
