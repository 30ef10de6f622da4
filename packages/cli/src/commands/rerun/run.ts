/**
 * `qgjob rerun --submission-id=ID [--failed]`: submit the tests of a submission again, as a new
 * submission with the same org, app version, target, priority, retries and test bundle. With
 * --failed, only the tests whose job failed, errored or was cancelled. Everything after the
 * request (submitting, printing, --wait, --timeout, --junit, --json) is submit's own code
 * (../submit/submission.ts).
 */
import type { JobStatus, JobSummary, SubmitRequest } from '@qgjob/protocol';
import { createContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { plural, printJson } from '../../output.js';
import { notFound } from '../../sources.js';
import { submitAndFollow, waitPlan } from '../submit/submission.js';
import type { RerunOptions } from './definition.js';

/** What --failed re-runs. */
export const RERUN_FAILED: ReadonlySet<JobStatus> = new Set(['failed', 'errored', 'cancelled']);

/** The fields a submission's jobs share, which the new submission copies. */
const SHARED = ['org_id', 'app_version_id', 'target', 'priority', 'max_retries', 'bundle_sha256'] as const;

/** The jobs to run again: every one, or with `failed` those RERUN_FAILED names, in the submission's order. */
export function jobsToRerun(jobs: readonly JobSummary[], failed: boolean): JobSummary[] {
  return failed ? jobs.filter((job) => RERUN_FAILED.has(job.status)) : [...jobs];
}

/** One submit request for `jobs` (at least one), copying what they share; a difference is refused. */
export function rerunRequest(submissionId: string, jobs: readonly JobSummary[]): SubmitRequest {
  const first = jobs[0] as JobSummary;
  for (const key of SHARED) {
    const other = jobs.find((job) => job[key] !== first[key]);
    if (other) {
      throw new UsageError(
        `the jobs of submission ${submissionId} differ in ${key} (${first.id}: ${first[key]}, ${other.id}: ${other[key]}), so they cannot be re-run as one submission`,
        { hint: "submit them again with 'qgjob submit'" },
      );
    }
  }
  const tests = [...new Set(jobs.map((job) => job.test_path))];
  const body: SubmitRequest = {
    org_id: first.org_id,
    app_version_id: first.app_version_id,
    target: first.target,
    priority: first.priority,
    max_retries: first.max_retries,
    ...(tests.length === 1 ? { test_path: tests[0] } : { tests }),
  };
  if (first.bundle_sha256) body.bundle_sha256 = first.bundle_sha256;
  return body;
}

/** "5 passed", "4 passed, 1 running": what the submission's jobs are, for the nothing-to-do line. */
function statuses(jobs: readonly JobSummary[]): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

export async function run(options: RerunOptions, signal: AbortSignal): Promise<number> {
  const id = options.submissionId?.trim();
  if (!id) {
    throw new UsageError('--submission-id is required', { hint: 'use the id printed by qgjob submit' });
  }
  waitPlan(options);
  const ctx = createContext(options, signal);
  const submission = await ctx.client.getSubmission(id).catch(notFound('submission', id));
  const jobs = jobsToRerun(submission.jobs, options.failed === true);
  if (jobs.length === 0) {
    const why =
      submission.jobs.length === 0
        ? `submission ${id} has no jobs`
        : `no job of submission ${id} failed, errored or was cancelled (${statuses(submission.jobs)})`;
    if (ctx.json) printJson({ rerun_of: id, submission_id: null, jobs: [] });
    process.stderr.write(`nothing to re-run: ${why}\n`);
    return 0;
  }
  const body = rerunRequest(id, jobs);
  if (!ctx.json) {
    const which = options.failed === true ? 'failed, errored or cancelled ' : '';
    process.stderr.write(`re-running ${plural(jobs.length, `${which}test`)} of submission ${id}\n`);
  }
  return submitAndFollow(ctx, options, body, { rerun_of: id, rerun_jobs: jobs.map((job) => job.id) });
}
