/**
 * A submission as its page shows it (`GET /v1/submissions/{id}/runs`): every job with every
 * run, where each failure happened, the files each run left; failures first.
 */
import {
  failureLocation,
  formatLocation,
  type JobStatus,
  type SubmissionRun,
  type SubmissionRuns,
  type SubmissionRunsJob,
} from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import { NotFoundError } from '../errors.js';
import { runsOfJobs } from '../store/submission-runs.js';
import { getSubmission } from '../store/submissions.js';

/** Where each job status sorts: what needs a look first. */
const RANK: Record<JobStatus, number> = {
  failed: 0,
  errored: 1,
  cancelled: 2,
  running: 3,
  assigned: 4,
  queued: 5,
  passed: 6,
};

/** The place a test failed (`tests/login.spec.js:12:5`), read as the CLI's reports read it. */
export function locationOf(error: string | null): string | null {
  const at = failureLocation(error);
  return at ? formatLocation(at) : null;
}

/** The address of a submission's page under a public URL (no trailing slash doubled). */
export function submissionPageUrl(publicUrl: string | undefined, id: string): string | null {
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}/submissions/${encodeURIComponent(id)}` : null;
}

export class SubmissionPageService {
  constructor(
    private readonly db: Db,
    private readonly publicUrl?: string,
  ) {}

  async runs(id: string, orgId: string | undefined): Promise<SubmissionRuns> {
    const sub = await getSubmission(this.db, id);
    if (!sub || (orgId !== undefined && sub.org_id !== orgId)) throw new NotFoundError('submission', id);
    const jobs = new Map<string, SubmissionRunsJob>();
    for (const r of await runsOfJobs(this.db, [...new Set(sub.job_ids)])) {
      let job = jobs.get(r.job_id);
      if (!job) {
        job = {
          id: r.job_id,
          test_path: r.test_path,
          app_version_id: r.app_version_id,
          target: r.target,
          status: r.job_status,
          flaky: r.flaky,
          runs: [],
        };
        jobs.set(r.job_id, job);
      }
      if (r.n !== null && r.status !== null) job.runs.push(runView(r as typeof r & { n: number }));
    }
    const ordered = [...jobs.values()].sort(
      (a, b) => RANK[a.status] - RANK[b.status] || a.test_path.localeCompare(b.test_path) || a.id.localeCompare(b.id),
    );
    return {
      id: sub.id,
      org_id: sub.org_id,
      created_at: sub.created_at.toISOString(),
      url: submissionPageUrl(this.publicUrl, sub.id),
      jobs: ordered,
    };
  }
}

function runView(r: Awaited<ReturnType<typeof runsOfJobs>>[number] & { n: number }): SubmissionRun {
  return {
    n: r.n,
    status: r.status ?? 'running',
    agent: r.agent,
    device: r.device,
    batch_id: r.batch_id,
    app_installed: r.app_installed ?? false,
    started_at: r.started_at?.toISOString() ?? null,
    finished_at: r.finished_at?.toISOString() ?? null,
    duration_ms: r.duration_ms,
    error: r.error,
    location: locationOf(r.error),
    artifact_count: r.artifact_count,
  };
}
