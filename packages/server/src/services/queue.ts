/**
 * The queue's front half: submitting, reading, listing and cancelling jobs.
 * Dedup and idempotency live here; the claim side is the scheduler's.
 */
import { createHash } from 'node:crypto';
import {
  type Job,
  type JobList,
  type JobSummaries,
  LIMITS,
  type ListJobsQuery,
  type Submission,
  type SubmitRequest,
  type SubmitResponse,
} from '@qgjob/protocol';
import type { Db, Queryable } from '../db/db.js';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import * as jobs from '../store/jobs.js';
import type { JobRow } from '../store/rows.js';
import { artifactsOfJob } from '../store/run-artifacts.js';
import { getRunsOfJob } from '../store/runs.js';
import * as submissions from '../store/submissions.js';
import { type SubmitJobs, submitJobs } from '../store/submit.js';
import type { ArtifactService } from './artifacts.js';
import type { JobChanges } from './job-changes.js';
import type { Metrics } from './metrics.js';
import { jobSummary, jobView, submittedJob } from './views.js';
import type { Wakeups } from './wakeups.js';

export interface SubmitResult {
  response: SubmitResponse;
  /** True when an earlier request with the same idempotency key is answered again. */
  replayed: boolean;
}

/** What a submit writes, before any job id is known. */
type Submit = Omit<SubmitJobs, 'ids' | 'testPaths' | 'jobIds' | 'deduplicated'> & {
  /** The tests in submit order, and each once, sorted. */
  paths: string[];
  unique: string[];
};

/** A job that finished between our insert and our lookup is retried this many times. */
const DEDUP_ROUNDS = 5;
/** How long an org's queued count is reused for its cap, and how near the cap it is counted again. */
const COUNT_FRESH_MS = 1_000;
const NEAR_CAP = 0.9;
const MAX_COUNTED_ORGS = 10_000;

export class QueueService {
  constructor(
    private readonly db: Db,
    private readonly metrics?: Metrics,
    private readonly wakeups?: Wakeups,
    /** Queued jobs one org may have at once; a submit past it is refused whole. */
    private readonly maxQueuedPerOrg = 50_000,
    private readonly artifacts?: ArtifactService,
    private readonly changes?: JobChanges,
  ) {}

  private readonly queuedCounts = new Map<string, { n: number; at: number }>();

  /**
   * Jobs an org has queued, for its cap. Counting costs what the org has queued, so a
   * count is reused for up to COUNT_FRESH_MS, plus what this server queued since: the
   * exact (capped) count runs only when that estimate comes near the cap, or is stale. An
   * overestimate only makes the next submit count; other job-servers' submits are seen
   * within COUNT_FRESH_MS.
   */
  private async queuedOfOrg(tx: Queryable, orgId: string, adding: number): Promise<number> {
    const cap = this.maxQueuedPerOrg;
    const known = this.queuedCounts.get(orgId);
    const now = Date.now();
    if (known && now - known.at < COUNT_FRESH_MS && known.n + adding <= cap * NEAR_CAP) {
      known.n += adding;
      return known.n - adding;
    }
    const n = await jobs.countQueuedOfOrg(tx, orgId, cap + 1);
    if (this.queuedCounts.size >= MAX_COUNTED_ORGS) this.queuedCounts.clear();
    this.queuedCounts.set(orgId, { n: n + adding, at: now });
    return n;
  }

  async submit(request: SubmitRequest, idempotencyKey?: string): Promise<SubmitResult> {
    const paths = request.tests ?? (request.test_path === undefined ? [] : [request.test_path]);
    const target = request.target ?? 'emulator';
    const submit: Submit = {
      submissionId: newId('sub'),
      orgId: request.org_id,
      appVersionId: request.app_version_id,
      target,
      priority: request.priority ?? LIMITS.priorityDefault,
      maxRetries: request.max_retries ?? 0,
      bundleSha256: request.bundle_sha256 ?? null,
      idempotencyKey: idempotencyKey ?? null,
      requestHash: idempotencyKey === undefined ? null : hashRequest(request),
      paths,
      // Sorted, so concurrent submits lock index entries in one order and cannot deadlock.
      unique: [...new Set(paths)].sort(),
    };
    const result = await this.db.transaction(async (tx): Promise<SubmitResult> => {
      await this.admit(tx, submit);
      return this.record(tx, submit);
    });
    const created = result.replayed ? 0 : result.response.jobs.filter((j) => !j.deduplicated).length;
    if (created > 0) {
      this.metrics?.jobsSubmitted.inc(created);
      // Claimers are woken only now, after the commit, so they can see the new jobs.
      this.wakeups?.queued(target, created);
    }
    return result;
  }

  /** Refuses a submit whose bundle was never uploaded, or that would take its org past the cap. */
  private async admit(tx: Queryable, submit: Submit): Promise<void> {
    const { orgId, appVersionId, bundleSha256 } = submit;
    const bundleKnown = await this.artifacts?.touchForSubmit(tx, { orgId, appVersionId, bundleSha256 });
    if (bundleKnown === false) {
      throw new ValidationError([
        {
          field: 'bundle_sha256',
          message: `bundle_sha256 ${bundleSha256} is not uploaded for org ${orgId}: PUT it to /v1/blobs/${bundleSha256}?kind=bundle first`,
        },
      ]);
    }
    const adding = submit.unique.length;
    const queued = await this.queuedOfOrg(tx, orgId, adding);
    if (queued + adding > this.maxQueuedPerOrg) {
      throw new AppError(
        'queue_full',
        `org ${orgId} has ${queued} jobs queued; at most ${this.maxQueuedPerOrg} may wait at once: retry when some have run`,
        { retryAfterSeconds: 30 },
      );
    }
  }

  /**
   * Creates the jobs and records the submission, through the one submit statement: once
   * when every test is new. When some have a queued or running twin, it looks the twins up
   * and runs the statement again for the rest, until it has recorded the submission; a twin
   * that finished in between is gone, so its test gets a job of its own after all. Wakes no
   * one: the caller does, after the commit.
   */
  private async record(tx: Queryable, submit: Submit): Promise<SubmitResult> {
    const { paths, unique } = submit;
    // A path repeated inside one submit is one job; its repeats count as deduplicated.
    const repeats = paths.map((p, i) => paths.indexOf(p) !== i);
    const created = new Map<string, JobRow>();
    const twins = new Map<string, JobRow>();
    for (let lookups = 0; ; lookups++) {
      const pending = unique.filter((p) => !created.has(p) && !twins.has(p));
      const ids = new Map(pending.map((p) => [p, newId('job')]));
      const jobOf = (p: string) => (created.get(p)?.id ?? twins.get(p)?.id ?? ids.get(p)) as string;
      const result = await submitJobs(tx, {
        ...submit,
        // The key is ours after the first run.
        idempotencyKey: lookups === 0 ? submit.idempotencyKey : null,
        ids: pending.map(jobOf),
        testPaths: pending,
        jobIds: paths.map(jobOf),
        deduplicated: paths.map((p, i) => twins.has(p) || (repeats[i] as boolean)),
      });
      if (result.keyTaken) {
        return this.replay(tx, submit.orgId, submit.idempotencyKey as string, submit.requestHash as string);
      }
      for (const row of result.rows) created.set(row.test_path, row);
      if (result.complete) break;
      if (lookups === DEDUP_ROUNDS) throw new ConflictError('identical jobs keep changing state; submit again');
      const missing = pending.filter((p) => !created.has(p));
      for (const row of await jobs.findActiveJobs(tx, { ...submit, testPaths: missing })) twins.set(row.test_path, row);
    }
    const submitted = paths.map((p, i) => {
      const twin = twins.get(p);
      return submittedJob(twin ?? (created.get(p) as JobRow), twin !== undefined || (repeats[i] as boolean));
    });
    return { response: { submission_id: submit.submissionId, jobs: submitted }, replayed: false };
  }

  /** Answers a repeated Idempotency-Key with the first submission, or refuses it for another body. */
  private async replay(q: Queryable, orgId: string, key: string, requestHash: string): Promise<SubmitResult> {
    const earlier = await submissions.getIdempotencyKey(q, orgId, key);
    if (!earlier || earlier.request_hash !== requestHash) {
      throw new AppError(
        'idempotency_conflict',
        'this Idempotency-Key was already used for a different request: send a new key for a new submit',
        { field: 'Idempotency-Key' },
      );
    }
    return { response: await this.submissionResponse(q, earlier.submission_id), replayed: true };
  }

  private async submissionResponse(q: Queryable, id: string): Promise<SubmitResponse> {
    const sub = await submissions.getSubmission(q, id);
    if (!sub) throw new NotFoundError('submission', id);
    const rows = new Map((await jobs.getJobsByIds(q, sub.job_ids)).map((r) => [r.id, r]));
    return {
      submission_id: sub.id,
      jobs: sub.job_ids.map((jobId, i) => submittedJob(rows.get(jobId) as JobRow, sub.deduplicated[i] ?? false)),
    };
  }

  /** `orgId`: the caller may only see this org's jobs; another org's job is "not found". */
  async getJob(id: string, orgId?: string): Promise<Job> {
    const row = await jobs.getJob(this.db, id);
    if (!row || (orgId !== undefined && row.org_id !== orgId)) throw new NotFoundError('job', id);
    const [runs, artifacts] = await Promise.all([getRunsOfJob(this.db, id), artifactsOfJob(this.db, id)]);
    return jobView(row, runs, artifacts);
  }

  async getSubmission(id: string, orgId?: string): Promise<Submission> {
    const sub = await submissions.getSubmission(this.db, id);
    if (!sub || (orgId !== undefined && sub.org_id !== orgId)) throw new NotFoundError('submission', id);
    const rows = new Map((await jobs.getJobsByIds(this.db, sub.job_ids)).map((r) => [r.id, r]));
    const seen = new Set<string>();
    const list = sub.job_ids.filter((jobId) => !seen.has(jobId) && seen.add(jobId));
    return {
      id: sub.id,
      org_id: sub.org_id,
      created_at: sub.created_at.toISOString(),
      jobs: list.map((jobId) => jobSummary(rows.get(jobId) as JobRow)),
    };
  }

  /** These jobs, in this order, repeats once; an unknown id (or another org's job) is "not found". */
  async getJobSummaries(ids: readonly string[], orgId?: string): Promise<JobSummaries> {
    const unique = [...new Set(ids)];
    const rows = new Map((await jobs.getJobsByIds(this.db, unique)).map((r) => [r.id, r]));
    const missing = unique.find((id) => {
      const row = rows.get(id);
      return !row || (orgId !== undefined && row.org_id !== orgId);
    });
    if (missing !== undefined) throw new NotFoundError('job', missing);
    return { jobs: unique.map((id) => jobSummary(rows.get(id) as JobRow)) };
  }

  async listJobs(query: ListJobsQuery): Promise<JobList> {
    const limit = query.limit ?? LIMITS.listLimitDefault;
    const rows = await jobs.listJobs(this.db, {
      orgId: query.org_id,
      status: query.status,
      appVersionId: query.app_version_id,
      target: query.target,
      submissionId: query.submission_id,
      beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      jobs: page.map(jobSummary),
      next_cursor: rows.length > limit && last ? encodeCursor(last.id) : null,
    };
  }

  /**
   * Cancels a job that has not finished. A running job's run ends `cancelled` now; its
   * agent learns it from the answer to its next report (a heartbeat at the latest) and
   * kills the test.
   */
  async cancelJob(id: string, orgId?: string): Promise<Job> {
    await this.getJob(id, orgId);
    const cancelled = await this.db.transaction(async (tx) => {
      const result = await jobs.cancelJob(tx, id, 'cancelled by request');
      if (result?.was === 'running') await jobs.cancelRunningRun(tx, id);
      return result;
    });
    if (cancelled) {
      this.metrics?.jobsFinished.inc({ status: 'cancelled' });
      this.changes?.changed([id]);
    }
    const job = await this.getJob(id, orgId);
    if (cancelled || job.status === 'cancelled') return job;
    throw new ConflictError(`job ${id} already ${job.status}: only an unfinished job can be cancelled`);
  }
}

function hashRequest(request: SubmitRequest): string {
  const canonical = JSON.stringify(request, Object.keys(request).sort());
  return createHash('sha256').update(canonical).digest('hex');
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!/^job_[0-9a-z]{26}$/.test(id)) {
    throw new AppError('validation_failed', 'cursor is not a next_cursor this server returned', { field: 'cursor' });
  }
  return id;
}
