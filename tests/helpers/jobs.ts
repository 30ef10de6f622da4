/** Waiting on jobs from a test: polls the API until every one has finished. */
import type { QgjobClient } from '@qgjob/client';
import { isTerminal, type Job } from '@qgjob/protocol';

export async function waitForJobs(client: QgjobClient, ids: string[], timeoutMs = 60_000): Promise<Job[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await Promise.all(ids.map((id) => client.getJob(id)));
    if (jobs.every((j) => isTerminal(j.status))) return jobs;
    if (Date.now() > deadline) {
      throw new Error(`jobs not finished after ${timeoutMs} ms: ${jobs.map((j) => `${j.id} ${j.status}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
