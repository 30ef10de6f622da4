/** `qgjob status`: one job with its runs, or the jobs of a submission. */
import { formatSize, type Job, type Submission } from '@qgjob/protocol';
import { type Context, createContext } from '../../context.js';
import { formatDuration } from '../../duration.js';
import { UsageError } from '../../errors.js';
import { formatTime, paintStatus, printJson, table } from '../../output.js';
import { getJob, notFound } from '../../sources.js';
import type { StatusOptions } from './definition.js';

function runsTable(ctx: Context, job: Job): string {
  if (job.runs.length === 0) return 'no runs yet';
  const rows = job.runs.map((run) => [
    String(run.n),
    paintStatus(ctx.out, run.status),
    run.agent ?? '-',
    run.device ?? '-',
    run.batch_id ?? '-',
    run.app_installed ? 'yes' : 'no',
    run.duration_ms === null ? '-' : formatDuration(run.duration_ms),
    run.error ?? '',
  ]);
  return table(['N', 'STATUS', 'AGENT', 'DEVICE', 'BATCH', 'APP_INSTALLED', 'DURATION', 'ERROR'], rows, ctx.out, {
    flexible: [7, 3, 2],
  });
}

/** The files the runs left, and how to fetch them; empty when there are none. */
function artifactsTable(ctx: Context, job: Job): string {
  // `?? []`: a job-server older than test artifacts sends none.
  const rows = job.runs.flatMap((run) => (run.artifacts ?? []).map((a) => [String(run.n), a.name, formatSize(a.size)]));
  if (rows.length === 0) return '';
  const fetch = `qgjob artifacts --job-id=${job.id}`;
  return `\nartifacts ${ctx.out.dim(`(download with: ${fetch})`)}\n${table(['RUN', 'NAME', 'SIZE'], rows, ctx.out, { flexible: [1] })}\n`;
}

function printJob(ctx: Context, job: Job): void {
  const status = paintStatus(ctx.out, job.status) + (job.flaky ? ctx.out.yellow(' (flaky: passed on a retry)') : '');
  const fields: [string, string][] = [
    ['job', ctx.out.bold(job.id)],
    ['status', status],
    ['org', job.org_id],
    ['app version', job.app_version_id],
    ['target', job.target],
    ['priority', String(job.priority)],
    ['test', job.test_path],
    ['attempts', `${job.attempts} (retries allowed: ${job.max_retries})`],
    ['submission', job.submission_id],
    ['created', formatTime(job.created_at)],
    ['started', formatTime(job.started_at)],
    ['finished', formatTime(job.finished_at)],
  ];
  if (job.error) fields.push(['error', ctx.out.red(job.error)]);
  const width = Math.max(...fields.map(([k]) => k.length));
  const lines = fields.map(([k, v]) => `${ctx.out.dim(k.padEnd(width))}  ${v}`);
  process.stdout.write(`${lines.join('\n')}\n\nruns\n${runsTable(ctx, job)}\n${artifactsTable(ctx, job)}`);
}

function printSubmission(ctx: Context, submission: Submission): void {
  process.stdout.write(
    `submission ${ctx.out.bold(submission.id)}  org ${submission.org_id}  created ${formatTime(submission.created_at)}\n`,
  );
  const rows = submission.jobs.map((job) => [
    job.id,
    paintStatus(ctx.out, job.status),
    job.target,
    String(job.priority),
    String(job.attempts),
    job.test_path,
  ]);
  process.stdout.write(
    `${table(['JOB', 'STATUS', 'TARGET', 'PRIORITY', 'ATTEMPTS', 'TEST'], rows, ctx.out, { flexible: [5] })}\n`,
  );
}

export async function run(options: StatusOptions, signal: AbortSignal): Promise<number> {
  if (options.jobId === undefined && options.submissionId === undefined) {
    throw new UsageError('--job-id=ID or --submission-id=ID is required', { hint: "find ids with 'qgjob list'" });
  }
  if (options.jobId !== undefined && options.submissionId !== undefined) {
    throw new UsageError('give either --job-id or --submission-id, not both');
  }
  const ctx = createContext(options, signal);
  if (options.jobId !== undefined) {
    const job = await getJob(ctx.client, options.jobId);
    if (ctx.json) printJson(job);
    else printJob(ctx, job);
    return 0;
  }
  const id = options.submissionId as string;
  const submission = await ctx.client.getSubmission(id).catch(notFound('submission', id));
  if (ctx.json) printJson(submission);
  else printSubmission(ctx, submission);
  return 0;
}
