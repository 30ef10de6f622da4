/**
 * Waiting as the user sees it, shared by `qgjob wait` and `submit --wait`: progress on
 * stderr while polling, then the per-job results and the summary line, an optional JUnit
 * file, and the exit code (0 all passed, 1 any failed/errored/cancelled, 5 timeout).
 */
import type { JobSummary } from '@qgjob/protocol';
import type { Context } from './context.js';
import { formatDuration } from './duration.js';
import { WaitTimeoutError } from './errors.js';
import { type JunitSuite, writeJunit } from './junit.js';
import { paintStatus, table } from './output.js';
import { lineProgress, liveProgress } from './progress.js';
import { exitCodeFor, summaryLine, type Tally, tally } from './results.js';
import { getJobs, isTransient, type Poll } from './sources.js';
import { pollIntervalFromEnv, type WaitResult, waitForJobs } from './wait.js';

/** `wait --json`, and the `results` field of `submit --wait --json`. */
export interface ResultsDocument {
  jobs: JobSummary[];
  summary: Tally & { elapsed_ms: number; timed_out: boolean };
}

export async function follow(ctx: Context, poll: Poll, timeoutMs: number | undefined): Promise<WaitResult> {
  const progress = ctx.interactive && !ctx.json ? liveProgress(ctx.err) : lineProgress(ctx.err);
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
  if (rows.length > 0) process.stdout.write(`${table(['STATUS', 'JOB', 'TEST', 'NOTES'], rows, ctx.out)}\n`);
  process.stdout.write(`${summaryLine(tally(result.jobs), result.elapsedMs, ctx.out)}\n`);
}

/** Writes the JUnit file from full jobs (runs included); `suites` groups them. */
export async function junitFor(
  ctx: Context,
  path: string,
  result: WaitResult,
  suites: (jobs: JobSummary[]) => JunitSuite[],
): Promise<void> {
  const full = await getJobs(
    ctx.client,
    result.jobs.map((job) => job.id),
  );
  await writeJunit(path, suites(full));
  if (!ctx.json) process.stderr.write(`wrote JUnit results to ${path}\n`);
}

/** The exit code for a finished wait; a timeout throws (exit 5) naming how to keep following. */
export function conclude(result: WaitResult, timeoutMs: number | undefined, followCommand: string): number {
  const t = tally(result.jobs);
  if (result.timedOut) {
    const unfinished = result.jobs.length === 0 ? 'the jobs' : `${t.unfinished} of ${result.jobs.length} jobs`;
    throw new WaitTimeoutError(
      `--timeout of ${formatDuration(timeoutMs ?? result.elapsedMs)} elapsed with ${unfinished} unfinished`,
      { hint: `they keep running on the server; follow them with '${followCommand}'` },
    );
  }
  return exitCodeFor(t);
}
