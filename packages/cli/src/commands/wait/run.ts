/** `qgjob wait`: follow jobs until they finish; the exit code says whether they all passed. */
import { createContext } from '../../context.js';
import { durationFlag } from '../../duration.js';
import { UsageError } from '../../errors.js';
import { afterWait, conclude, printResults, resultsDocument } from '../../follow.js';
import { suitesBySubmission } from '../../junit.js';
import { printJson } from '../../output.js';
import { pollJobs, pollSubmission } from '../../sources.js';
import { followInterruptible } from '../interrupt.js';
import type { WaitOptions } from './definition.js';

export async function run(options: WaitOptions, signal: AbortSignal): Promise<number> {
  const jobIds = [...new Set(options.jobId ?? [])];
  if (jobIds.length === 0 && options.submissionId === undefined) {
    throw new UsageError('--job-id=ID (repeatable) or --submission-id=ID is required', {
      hint: "find ids with 'qgjob list'",
    });
  }
  if (jobIds.length > 0 && options.submissionId !== undefined) {
    throw new UsageError('give either --job-id or --submission-id, not both');
  }
  const timeoutMs = options.timeout === undefined ? undefined : durationFlag('--timeout', options.timeout);
  const ctx = createContext(options, signal);
  const poll =
    options.submissionId !== undefined
      ? pollSubmission(ctx.client, options.submissionId)
      : pollJobs(ctx.client, jobIds);
  const followCommand =
    options.submissionId !== undefined
      ? `qgjob wait --submission-id=${options.submissionId}`
      : `qgjob wait ${jobIds.map((id) => `--job-id=${id}`).join(' ')}`;

  const watch = { submissionId: options.submissionId, jobIds, followCommand };
  const result = await followInterruptible(ctx, options, poll, timeoutMs, watch);
  await afterWait(ctx, result, {
    junit: options.junit,
    suites: suitesBySubmission,
    // For --job-id: the submission of the jobs when they are all one's (github.ts).
    submissionId: options.submissionId,
    timeoutMs,
    followCommand,
  });
  if (ctx.json) printJson(resultsDocument(result));
  else printResults(ctx, result);
  return conclude(result, timeoutMs, followCommand);
}
