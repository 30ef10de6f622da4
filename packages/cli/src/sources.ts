/**
 * Where the wait loop reads job states from: a submission, or a set of job ids. Against a
 * job-server with waiting reads, each poll after the first is held by the server until a job
 * changes status (see Watching below), so the loop polls again at once. Otherwise (an older
 * server) a submission is one request per poll and job ids one request per unfinished job,
 * and the loop pauses between polls. Finished jobs are remembered, never fetched again.
 */
import { ApiError, MAX_WATCH_SECONDS, type QgjobClient, type Watched, type WatchOptions } from '@qgjob/client';
import { isTerminal, type Job, type JobSummary, MAX_SUMMARY_IDS } from '@qgjob/protocol';
import { UsageError } from './errors.js';
import { mapLimit } from './limit.js';
import type { Poll, PollHint } from './wait.js';

const CONCURRENCY = 8;
/** The longest one waiting read is held: below common proxy idle timeouts. */
const HOLD_SECONDS = Math.min(30, MAX_WATCH_SECONDS);

export type { Poll, PollHint };

/** QGJOB_LONG_POLL=0: never use waiting reads, poll every QGJOB_POLL_INTERVAL_MS (the old way). */
function waitingReadsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.QGJOB_LONG_POLL !== '0';
}

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

/**
 * Waiting reads of one document, falling back for good to `legacy` (plain reads, the loop
 * pausing between them) when the server shows it has none: an answer without an ETag, or a
 * 400 (404 too, for `fallbackOn`) refusing the request. `live()` is true only after an answer
 * that brought a new document or that the server held: a server answering at once with what
 * the client has never makes the loop spin.
 */
class Watching<T> {
  private etag: string | undefined;
  private doc: T | undefined;
  private legacyMode = !waitingReadsWanted();
  private wasLive = false;

  constructor(
    private readonly watch: (options: WatchOptions) => Promise<Watched<T>>,
    private readonly legacy: () => Promise<T>,
    private readonly jobsOf: (doc: T) => readonly JobSummary[],
    private readonly fallbackOn: readonly number[],
  ) {}

  live(): boolean {
    return this.wasLive;
  }

  async read(hint?: PollHint): Promise<T> {
    this.wasLive = false;
    if (this.legacyMode) return this.legacy();
    const held = this.etag === undefined || this.doc === undefined ? 0 : holdSeconds(hint);
    const started = Date.now();
    let answer: Watched<T>;
    try {
      answer = await this.watch({ etag: held > 0 ? this.etag : undefined, waitSeconds: held, signal: hint?.signal });
    } catch (error) {
      if (!(error instanceof ApiError && this.fallbackOn.includes(error.status))) throw error;
      this.legacyMode = true;
      return this.legacy();
    }
    // Held for most of the wait asked for: the server waits for changes.
    const waited = held > 0 && Date.now() - started >= (held * 1000) / 2;
    if (!answer.changed) {
      this.wasLive = waited;
      return this.doc as T;
    }
    if (answer.etag === undefined) this.legacyMode = true;
    const before = this.doc === undefined ? undefined : JSON.stringify(this.jobsOf(this.doc));
    this.wasLive = !this.legacyMode && (waited || JSON.stringify(this.jobsOf(answer.doc)) !== before);
    this.etag = answer.etag;
    this.doc = answer.doc;
    return answer.doc;
  }
}

function holdSeconds(hint: PollHint | undefined): number {
  if (!hint) return HOLD_SECONDS;
  return Math.max(1, Math.min(HOLD_SECONDS, Math.ceil(hint.waitMs / 1000)));
}

/** A Poll over a Watching source. */
function livePoll<T>(watching: Watching<T>, toJobs: (doc: T) => Promise<JobSummary[]>): Poll {
  const poll: Poll = async (hint) => toJobs(await watching.read(hint));
  poll.live = () => watching.live();
  return poll;
}

export function pollJobs(client: QgjobClient, ids: readonly string[]): Poll {
  const done = new Map<string, JobSummary>();
  const legacy = async () =>
    mapLimit(ids, CONCURRENCY, async (id) => {
      const known = done.get(id);
      if (known) return known;
      const job = await getJob(client, id);
      if (isTerminal(job.status)) done.set(id, job);
      return job;
    });
  const unique = [...new Set(ids)];
  if (unique.length === 0 || unique.length > MAX_SUMMARY_IDS || !waitingReadsWanted()) return legacy;
  // An older server has no /v1/jobs/summaries (404, or 400 for its ids); the plain reads then say which id is unknown.
  const watching = new Watching(
    (options) => client.watchJobs(unique, options),
    async () => ({ jobs: await legacy() }),
    (doc) => doc.jobs,
    [400, 404, 405],
  );
  return livePoll(watching, async (doc) => {
    const byId = new Map(doc.jobs.map((job) => [job.id, job]));
    return ids.map((id) => byId.get(id)).filter((job): job is JobSummary => job !== undefined);
  });
}

/**
 * Jobs of a submission. `expected` (the ids submit returned, in order) also covers
 * deduplicated jobs, which may belong to an earlier submission.
 */
export function pollSubmission(client: QgjobClient, submissionId: string, expected?: readonly string[]): Poll {
  const others = new Map<string, JobSummary>();
  const read = notFound('submission', submissionId);
  const watching = new Watching(
    (options) => client.watchSubmission(submissionId, options).catch(read),
    () => client.getSubmission(submissionId).catch(read),
    (doc) => doc.jobs,
    [400],
  );
  return livePoll(watching, async (submission) => {
    if (!expected) return submission.jobs;
    const byId = new Map(submission.jobs.map((job) => [job.id, job]));
    const missing = expected.filter((id) => !byId.has(id) && !others.has(id));
    const fetched = await mapLimit(missing, CONCURRENCY, (id) => getJob(client, id));
    for (const job of fetched) byId.set(job.id, job);
    for (const [id, job] of others) byId.set(id, job);
    for (const job of fetched) if (isTerminal(job.status)) others.set(job.id, job);
    return expected.map((id) => byId.get(id)).filter((job): job is JobSummary => job !== undefined);
  });
}
