/**
 * What submit and rerun share once the request is built: submit once (idempotently), print
 * the submission, and with --wait follow it to its end.
 */
import { randomUUID } from 'node:crypto';
import type { SubmitRequest, SubmitResponse } from '@qgjob/protocol';
import type { Context } from '../../context.js';
import { durationFlag } from '../../duration.js';
import { afterWait, conclude, printResults, resultsDocument } from '../../follow.js';
import { printJson, table } from '../../output.js';
import { pollSubmission } from '../../sources.js';
import { followInterruptible } from '../interrupt.js';
import type { FollowOptions } from '../waiting.js';

function printSubmitted(ctx: Context, response: SubmitResponse): void {
  const n = response.jobs.length;
  process.stdout.write(`submission ${ctx.out.bold(response.submission_id)}: ${n} job${n === 1 ? '' : 's'}\n`);
  const rows = response.jobs.map((job) => [
    job.id,
    job.deduplicated ? `${job.status} ${ctx.out.dim('(deduplicated: already queued)')}` : job.status,
    job.test_path,
  ]);
  process.stdout.write(`${table(['JOB', 'STATUS', 'TEST'], rows, ctx.out)}\n`);
}

/** Whether to wait, and for how long: --wait, or implied by --timeout or --junit. */
export function waitPlan(options: FollowOptions): { wait: boolean; timeoutMs: number | undefined } {
  const timeoutMs = options.timeout === undefined ? undefined : durationFlag('--timeout', options.timeout);
  return { wait: options.wait === true || timeoutMs !== undefined || options.junit !== undefined, timeoutMs };
}

/**
 * Submits `body` once (idempotently), prints the submission, and with --wait follows it to
 * its end. `extra` is added to the --json document; `afterSubmit` runs once the server took
 * the submission.
 */
export async function submitAndFollow(
  ctx: Context,
  options: FollowOptions,
  body: SubmitRequest,
  extra: Record<string, unknown>,
  afterSubmit?: () => void,
): Promise<number> {
  const { wait, timeoutMs } = waitPlan(options);
  const response = await ctx.client.submit(body, { idempotencyKey: randomUUID() });
  afterSubmit?.();
  const followCommand = `qgjob wait --submission-id=${response.submission_id}`;
  // The server's page of this submission, when it knows its public URL.
  const pageUrl = response.url;
  if (pageUrl && !ctx.json) process.stderr.write(`details: ${pageUrl}\n`);

  if (!wait) {
    if (ctx.json) printJson({ ...response, ...extra });
    else {
      printSubmitted(ctx, response);
      process.stderr.write(`follow with: ${followCommand}\n`);
    }
    return 0;
  }

  if (!ctx.json) printSubmitted(ctx, response);
  const ids = response.jobs.map((job) => job.id);
  const poll = pollSubmission(ctx.client, response.submission_id, ids);
  const watch = { submissionId: response.submission_id, jobIds: ids, followCommand };
  const result = await followInterruptible(ctx, options, poll, timeoutMs, watch);
  await afterWait(ctx, result, {
    junit: options.junit,
    suites: (jobs) => [{ name: response.submission_id, jobs }],
    submissionId: response.submission_id,
    timeoutMs,
    followCommand,
    pageUrl,
  });
  if (ctx.json) printJson({ ...response, ...extra, results: resultsDocument(result) });
  else printResults(ctx, result);
  return conclude(result, timeoutMs, followCommand);
}
