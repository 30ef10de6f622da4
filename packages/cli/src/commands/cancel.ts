/** `qgjob cancel`: cancel a job that has not started; the server answers 409 otherwise (exit 2). */
import { createContext, type GlobalOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { paintStatus, printJson } from '../output.js';
import { notFound } from '../sources.js';

export interface CancelOptions extends GlobalOptions {
  jobId?: string;
}

export async function run(options: CancelOptions, signal: AbortSignal): Promise<number> {
  const id = options.jobId;
  if (id === undefined || id === '') {
    throw new UsageError('--job-id is required', { hint: "find job ids with 'qgjob list'" });
  }
  const ctx = createContext(options, signal);
  const job = await ctx.client.cancelJob(id).catch(notFound('job', id));
  if (ctx.json) printJson(job);
  else process.stdout.write(`${job.id} ${paintStatus(ctx.out, job.status)}\n`);
  return 0;
}
