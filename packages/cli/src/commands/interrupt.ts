/**
 * What an interrupted `submit --wait`, `rerun --wait` or `wait` does with the jobs it waited for.
 *
 * Cancelling (in GitHub Actions, or with --cancel-on-interrupt): the first SIGINT, SIGTERM or
 * SIGHUP stops the wait and cancels every job not yet finished (POST /v1/jobs/{id}/cancel, 8 at
 * a time, all within CANCEL_BUDGET_MS: a CI runner kills the step soon after), says on stderr
 * how many were cancelled and which had already finished, and exits 130. A second signal exits
 * 130 at once. Otherwise Ctrl-C leaves the jobs running and says how to follow or cancel them.
 */
import { ApiError } from '@qgjob/client';
import { isTerminal, type Job, type JobStatus, type JobSummary } from '@qgjob/protocol';
import { type Context, createContext } from '../context.js';
import { InterruptedError } from '../errors.js';
import { follow } from '../follow.js';
import { annotation, appendReport } from '../github.js';
import { mapLimit } from '../limit.js';
import { plural } from '../output.js';
import { hookSignals } from '../signals.js';
import type { Poll, WaitResult } from '../wait.js';
import type { InterruptOptions } from './waiting.js';

/** How long all the cancel requests together may take. */
export const CANCEL_BUDGET_MS = 4000;
const CONCURRENCY = 8;
/** Ids and statuses named in a message; the rest are counted. */
const NAMED = 10;

/** What is waited for. */
export interface Watch {
  /** The submission, when the wait follows one. */
  submissionId?: string;
  /** The jobs, when known before the first poll (submit's answer, wait --job-id). */
  jobIds?: readonly string[];
  /** `qgjob wait …`: how to follow them again. */
  followCommand: string;
}

/** Whether an interrupt cancels the jobs: the flag when given, else only in GitHub Actions. */
export function cancelsOnInterrupt(ctx: Pick<Context, 'github'>, options: InterruptOptions): boolean {
  return options.cancelOnInterrupt ?? ctx.github !== undefined;
}

/** The outcome of cancelling the unfinished jobs. */
export interface Cancelled {
  /** Jobs this cancelled (or found cancelled already). */
  cancelled: string[];
  /** Jobs that had finished before the cancel reached them, with their status. */
  finished: { id: string; status: JobStatus | string }[];
  /** Jobs the cancel did not reach (server unreachable, out of time), with why. */
  failed: { id: string; reason: string }[];
  /** Final states as far as known, for the GitHub summary and outputs. */
  jobs: JobSummary[];
}

function reasonOf(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${CANCEL_BUDGET_MS / 1000}s`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Cancels every job of `jobs` that is not finished, at most CONCURRENCY requests at a time
 * and all within CANCEL_BUDGET_MS. `ctx` must not carry the aborted interrupt signal.
 */
export async function cancelUnfinished(ctx: Pick<Context, 'client'>, jobs: readonly JobSummary[]): Promise<Cancelled> {
  const outcome: Cancelled = { cancelled: [], finished: [], failed: [], jobs: [...jobs] };
  const open = jobs.filter((job) => !isTerminal(job.status));
  for (const job of jobs) {
    if (job.status === 'cancelled') outcome.cancelled.push(job.id);
    else if (isTerminal(job.status)) outcome.finished.push({ id: job.id, status: job.status });
  }
  const answers = await mapLimit(open, CONCURRENCY, async (job) => {
    try {
      return { job, done: await ctx.client.cancelJob(job.id) };
    } catch (error) {
      return { job, error };
    }
  });
  const byId = new Map<string, JobSummary>();
  for (const { job, done, error } of answers as { job: JobSummary; done?: Job; error?: unknown }[]) {
    if (done) {
      outcome.cancelled.push(job.id);
      byId.set(job.id, done);
    } else if (error instanceof ApiError && error.status === 409) {
      // It finished between the last poll and the cancel: "job … already passed: …".
      const status = /already (\w+)/.exec(error.message)?.[1] ?? 'finished';
      outcome.finished.push({ id: job.id, status });
      byId.set(job.id, { ...job, status: (isTerminal(status as JobStatus) ? status : job.status) as JobStatus });
    } else {
      outcome.failed.push({ id: job.id, reason: reasonOf(error) });
    }
  }
  outcome.jobs = jobs.map((job) => byId.get(job.id) ?? job);
  return outcome;
}

function named(items: readonly string[]): string {
  const shown = items.slice(0, NAMED).join(', ');
  return items.length > NAMED ? `${shown} and ${items.length - NAMED} more` : shown;
}

/** The one-line account of a cancel, e.g. `cancelled 3 of 5 jobs of submission sub_1; 2 had already finished (…)`. */
export function cancelMessage(outcome: Cancelled, watch: Watch): string {
  const total = outcome.cancelled.length + outcome.finished.length + outcome.failed.length;
  const of = watch.submissionId ? ` of submission ${watch.submissionId}` : '';
  const parts = [
    outcome.cancelled.length === 0 && outcome.failed.length === 0
      ? `nothing to cancel: ${total === 0 ? 'no job was known yet' : `every job${of} had already finished`}`
      : `cancelled ${outcome.cancelled.length} of ${plural(total, 'job')}${of}`,
  ];
  if (outcome.finished.length > 0 && (outcome.cancelled.length > 0 || outcome.failed.length > 0)) {
    const which = named(outcome.finished.map((job) => `${job.id} ${job.status}`));
    parts.push(`${outcome.finished.length} had already finished (${which})`);
  }
  if (outcome.failed.length > 0) {
    const reasons = [...new Set(outcome.failed.map((job) => job.reason))].join('; ');
    parts.push(
      `could not cancel ${outcome.failed.length} (${named(outcome.failed.map((job) => job.id))}: ${reasons}), which keep running`,
    );
  }
  return parts.join('; ');
}

/** The jobs to cancel: the last poll's, else the ids known, else the submission's (read now). */
async function jobsToCancel(ctx: Context, last: readonly JobSummary[], watch: Watch): Promise<JobSummary[]> {
  if (last.length > 0) return [...last];
  if (watch.jobIds && watch.jobIds.length > 0) {
    // Unknown states: every one is asked to cancel; a finished one answers 409.
    return watch.jobIds.map((id) => ({ id, status: 'queued' }) as JobSummary);
  }
  if (watch.submissionId) return (await ctx.client.getSubmission(watch.submissionId)).jobs;
  return [];
}

/** Cancels after an interrupt, reports it on stderr (and to GitHub), and returns the error to exit with. */
async function cancelAfterInterrupt(
  ctx: Context,
  options: InterruptOptions,
  last: readonly JobSummary[],
  watch: Watch,
): Promise<InterruptedError> {
  const quick = createContext(options, AbortSignal.timeout(CANCEL_BUDGET_MS));
  let outcome: Cancelled;
  try {
    const jobs = await jobsToCancel(quick, last, watch);
    const open = jobs.filter((job) => !isTerminal(job.status)).length;
    if (open > 0) process.stderr.write(`interrupted: cancelling ${plural(open, 'unfinished job')}…\n`);
    outcome = await cancelUnfinished(quick, jobs);
  } catch (error) {
    const message = `interrupted: could not read the jobs to cancel (${reasonOf(error)}); they keep running`;
    if (ctx.github) process.stderr.write(`${annotation('error', 'qgjob interrupted', message)}\n`);
    return new InterruptedError(message, { cause: error, hint: `follow them with '${watch.followCommand}'` });
  }
  const message = `interrupted: ${cancelMessage(outcome, watch)}`;
  const cancelOne = outcome.failed[0] ? `qgjob cancel --job-id=${outcome.failed[0].id}` : undefined;
  if (ctx.github) {
    const level = outcome.failed.length > 0 ? 'error' : 'warning';
    process.stderr.write(`${annotation(level, 'qgjob cancelled', `The run was cancelled: qgjob ${message}`)}\n`);
    await appendReport(ctx.github, {
      // Jobs never polled and not reached by the cancel are known by id alone: left out.
      jobs: outcome.jobs.filter((job) => typeof job.test_path === 'string'),
      submissionId: watch.submissionId,
      servers: ctx.servers,
      elapsedMs: 0,
      timedOut: false,
      junit: undefined,
    });
  }
  return new InterruptedError(message, { hint: cancelOne && `cancel them with '${cancelOne}' (and the others)` });
}

/** The interrupt of a wait that leaves the jobs running: how to follow or cancel them. */
function leftRunning(ctx: Context, error: InterruptedError, watch: Watch): InterruptedError {
  const one = watch.jobIds?.[0] ?? 'ID';
  const message = 'interrupted — the jobs keep running on the server';
  if (ctx.github) {
    const text = `${message} (--no-cancel-on-interrupt); follow them with '${watch.followCommand}'`;
    process.stderr.write(`${annotation('warning', 'qgjob interrupted', text)}\n`);
  }
  return new InterruptedError(message, {
    cause: error,
    hint: `follow them with '${watch.followCommand}', cancel one with 'qgjob cancel --job-id=${one}', or pass --cancel-on-interrupt to cancel them on Ctrl-C`,
  });
}

/**
 * `follow` (progress, polling until every job finished or --timeout), interruptible: in
 * cancelling mode the first signal cancels the unfinished jobs before the InterruptedError
 * (exit 130) is thrown; otherwise the error says how to follow or cancel them.
 */
export async function followInterruptible(
  ctx: Context,
  options: InterruptOptions,
  poll: Poll,
  timeoutMs: number | undefined,
  watch: Watch,
): Promise<WaitResult> {
  if (!cancelsOnInterrupt(ctx, options)) {
    try {
      return await follow(ctx, poll, timeoutMs);
    } catch (error) {
      if (error instanceof InterruptedError || ctx.signal.aborted)
        throw leftRunning(ctx, error as InterruptedError, watch);
      throw error;
    }
  }
  const stop = new AbortController();
  // A second signal exits at once (signals.ts), saying so.
  const dispose = hookSignals({
    first: () => stop.abort(),
    again: (signal) => {
      process.stderr.write(`${signal} during the cancel: exiting at once; jobs not yet cancelled keep running\n`);
    },
  });
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  let last: readonly JobSummary[] = [];
  const tracked: Poll = async (hint) => {
    last = await poll(hint);
    return last as JobSummary[];
  };
  if (poll.live) tracked.live = () => poll.live?.() === true;
  try {
    return await follow({ ...ctx, signal }, tracked, timeoutMs);
  } catch (error) {
    if (!signal.aborted) throw error;
    throw await cancelAfterInterrupt(ctx, options, last, watch);
  } finally {
    dispose();
  }
}
