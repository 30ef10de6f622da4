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

/** Polls `check` every `everyMs` until it returns something truthy, which it resolves with. */
export async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
