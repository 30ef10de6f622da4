/**
 * Waiting as the user sees it, shared by `qgjob wait` and `submit --wait`: progress on
 * stderr while polling, then the per-job results and the summary line, an optional JUnit
 * file, GitHub Actions annotations/summary/outputs (github.ts) when GITHUB_ACTIONS=true,
 * and the exit code (0 all passed, 1 any failed/errored/cancelled, 5 timeout).
 */

import { isTransient } from '@qgjob/client';
import type { JobSummary } from '@qgjob/protocol';
import type { Context } from './context.js';
import { formatDuration } from './duration.js';
import { WaitTimeoutError } from './errors.js';
import { groupedProgress, reportToGitHub } from './github.js';
import { type JunitJob, type JunitSuite, writeJunit } from './junit.js';
import { paintStatus, plural, table } from './output.js';
import { lineProgress, liveProgress, type Progress } from './progress.js';
import { exitCodeFor, summaryLine, type Tally, tally } from './results.js';
import { getJobs, type Poll } from './sources.js';
import { pollIntervalFromEnv, type WaitResult, waitForJobs } from './wait.js';

/** `wait --json`, and the `results` field of `submit --wait --json`. */
export interface ResultsDocument {
  jobs: JobSummary[];
  summary: Tally & { elapsed_ms: number; timed_out: boolean };
}

export async function follow(ctx: Context, poll: Poll, timeoutMs: number | undefined): Promise<WaitResult> {
  let progress: Progress = ctx.interactive && !ctx.json ? liveProgress(ctx.err) : lineProgress(ctx.err);
  if (ctx.github) progress = groupedProgress(progress);
  try {
    return await waitForJobs({
      poll,
      intervalMs: pollIntervalFromEnv(),
      timeoutMs,
      signal: ctx.signal,
      isTransient,
      onUpdate: (jobs, elapsed) => progress.update(jobs, elapsed),
      onTrouble: (error) => progress.trouble(error),
    });
  } finally {
    progress.stop();
  }
}

export function resultsDocument(result: WaitResult): ResultsDocument {
  return {
    jobs: result.jobs,
    summary: { ...tally(result.jobs), elapsed_ms: result.elapsedMs, timed_out: result.timedOut },
  };
}

/** Per-job outcome table and the summary line, on stdout. */
export function printResults(ctx: Context, result: WaitResult): void {
  const rows = result.jobs.map((job) => {
    const notes = [job.flaky ? 'flaky' : '', job.attempts > 1 ? `${job.attempts} attempts` : '', job.error ?? '']
      .filter(Boolean)
      .join('; ');
    return [paintStatus(ctx.out, job.status), job.id, job.test_path, notes];
  });
  if (rows.length > 0)
    process.stdout.write(`${table(['STATUS', 'JOB', 'TEST', 'NOTES'], rows, ctx.out, { flexible: [2, 3] })}\n`);
  process.stdout.write(`${summaryLine(tally(result.jobs), result.elapsedMs, ctx.out)}\n`);
}

export interface AfterWait {
  /** --junit FILE */
  junit: string | undefined;
  /** How JUnit groups the jobs into suites. */
  suites: (jobs: JobSummary[]) => JunitSuite[];
  /** The submission followed (GitHub output `submission-id`); undefined for `wait --job-id`. */
  submissionId: string | undefined;
  /** --timeout, for the annotation of a wait it ended. */
  timeoutMs?: number;
  /** How to keep following the jobs, named when --timeout elapsed. */
  followCommand?: string;
  /** The submission's page, when the server has a public URL. */
  pageUrl?: string;
}

/**
 * What a finished (or timed-out) wait leaves behind besides stdout: the JUnit file, and in
 * GitHub Actions the annotations, job summary and step outputs. Both need the jobs' runs,
 * fetched once. Without --junit, a failure to fetch them only makes the summary shorter.
 */
export async function afterWait(ctx: Context, result: WaitResult, options: AfterWait): Promise<void> {
  if (!options.junit && !ctx.github) return;
  const ids = result.jobs.map((job) => job.id);
  let full: JunitJob[];
  if (options.junit) {
    const jobs = await getJobs(ctx.client, ids);
    full = jobs;
    await writeJunit(options.junit, options.suites(jobs));
    if (!ctx.json) process.stderr.write(`wrote JUnit results to ${options.junit}\n`);
  } else {
    full = await getJobs(ctx.client, ids).catch(() => result.jobs);
  }
  if (ctx.github) {
    await reportToGitHub(ctx.github, {
      jobs: full,
      submissionId: options.submissionId,
      servers: ctx.servers,
      elapsedMs: result.elapsedMs,
      timedOut: result.timedOut,
      junit: options.junit,
      timeoutMs: options.timeoutMs,
      followCommand: options.followCommand,
      pageUrl: options.pageUrl,
    });
  }
}

/** The exit code for a finished wait; a timeout throws (exit 5) naming how to keep following. */
export function conclude(result: WaitResult, timeoutMs: number | undefined, followCommand: string): number {
  const t = tally(result.jobs);
  if (result.timedOut) {
    const unfinished =
      result.jobs.length === 0 ? 'the jobs' : `${t.unfinished} of ${plural(result.jobs.length, 'job')}`;
    throw new WaitTimeoutError(
      `--timeout of ${formatDuration(timeoutMs ?? result.elapsedMs)} elapsed with ${unfinished} unfinished`,
      { hint: `they keep running on the server; follow them with '${followCommand}'` },
    );
  }
  return exitCodeFor(t);
}
