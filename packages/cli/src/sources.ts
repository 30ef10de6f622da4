/**
 * Where the wait loop reads job states from: a submission (one request per poll) or single
 * job ids (one request per unfinished job). Finished jobs are remembered, never fetched again.
 */
import { ApiError, type QgjobClient } from '@qgjob/client';
import { isTerminal, type Job, type JobSummary } from '@qgjob/protocol';
import { UsageError } from './errors.js';
import { mapLimit } from './limit.js';

const CONCURRENCY = 8;

export type Poll = () => Promise<JobSummary[]>;

/** A 404 for an id the user gave is their mistake, not the server's: exit 2. */
export function notFound(kind: 'job' | 'submission', id: string) {
  return (error: unknown): never => {
    if (error instanceof ApiError && error.status === 404) {
      throw new UsageError(`no ${kind} with id ${id}`, {
        cause: error,
        hint: kind === 'job' ? "find job ids with 'qgjob list'" : 'check the id printed by qgjob submit',
      });
    }
    throw error;
  };
}

export function getJob(client: QgjobClient, id: string): Promise<Job> {
  return client.getJob(id).catch(notFound('job', id));
}

/** Full jobs (with runs), e.g. for JUnit. */
export function getJobs(client: QgjobClient, ids: readonly string[]): Promise<Job[]> {
  return mapLimit(ids, CONCURRENCY, (id) => getJob(client, id));
}

export function pollJobs(client: QgjobClient, ids: readonly string[]): Poll {
  const done = new Map<string, JobSummary>();
  return async () =>
    mapLimit(ids, CONCURRENCY, async (id) => {
      const known = done.get(id);
      if (known) return known;
      const job = await getJob(client, id);
      if (isTerminal(job.status)) done.set(id, job);
      return job;
    });
}

/**
 * Jobs of a submission. `expected` (the ids submit returned, in order) also covers
 * deduplicated jobs, which may belong to an earlier submission.
 */
export function pollSubmission(client: QgjobClient, submissionId: string, expected?: readonly string[]): Poll {
  const others = new Map<string, JobSummary>();
  return async () => {
    const submission = await client.getSubmission(submissionId).catch(notFound('submission', submissionId));
    if (!expected) return submission.jobs;
    const byId = new Map(submission.jobs.map((job) => [job.id, job]));
    const missing = expected.filter((id) => !byId.has(id) && !others.has(id));
    const fetched = await mapLimit(missing, CONCURRENCY, (id) => getJob(client, id));
    for (const job of fetched) byId.set(job.id, job);
    for (const [id, job] of others) byId.set(id, job);
    for (const job of fetched) if (isTerminal(job.status)) others.set(job.id, job);
    return expected.map((id) => byId.get(id)).filter((job): job is JobSummary => job !== undefined);
  };
}
