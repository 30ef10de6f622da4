/**
 * `qgjob cancel`: cancel a job that has not finished. The server ends a queued, assigned or
 * running job `cancelled` at once (a running test is stopped by its agent within seconds);
 * a job that already passed, failed or errored is a 409 (exit 2).
 */
import { ApiError } from '@qgjob/client';
import { createContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { paintStatus, printJson } from '../../output.js';
import { notFound } from '../../sources.js';
import type { CancelOptions } from './definition.js';

export async function run(options: CancelOptions, signal: AbortSignal): Promise<number> {
  const id = options.jobId;
  if (id === undefined || id === '') {
    throw new UsageError('--job-id is required', { hint: "find job ids with 'qgjob list'" });
  }
  const ctx = createContext(options, signal);
  const job = await ctx.client
    .cancelJob(id)
    .catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 409) {
        throw new UsageError(error.message, {
          cause: error,
          hint: `a finished job keeps its outcome: see 'qgjob status --job-id=${id}'`,
        });
      }
      throw error;
    })
    .catch(notFound('job', id));
  if (ctx.json) printJson(job);
  else process.stdout.write(`${job.id} ${paintStatus(ctx.out, job.status)}\n`);
  return 0;
}
