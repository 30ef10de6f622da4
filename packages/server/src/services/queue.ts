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
    // Sorted, so concurrent submits lock index entries in one order and cannot deadlock.
    const unique = [...new Set(paths)].sort();
    const target = request.target ?? 'emulator';
    const submissionId = newId('sub');
    const result = await this.db.transaction(async (tx): Promise<SubmitResult> => {
      const base = {
        submissionId,
        orgId: request.org_id,
        appVersionId: request.app_version_id,
        target,
        priority: request.priority ?? LIMITS.priorityDefault,
        maxRetries: request.max_retries ?? 0,
        bundleSha256: request.bundle_sha256 ?? null,
      };
      const requestHash = idempotencyKey === undefined ? null : hashRequest(request);
      const bundleKnown = await this.artifacts?.touchForSubmit(tx, {
        orgId: request.org_id,
        appVersionId: request.app_version_id,
        bundleSha256: base.bundleSha256,
      });
      if (bundleKnown === false) {
        throw new ValidationError([
          {
            field: 'bundle_sha256',
            message: `bundle_sha256 ${base.bundleSha256} is not uploaded for org ${request.org_id}: PUT it to /v1/blobs/${base.bundleSha256}?kind=bundle first`,
          },
        ]);
      }
      const queued = await this.queuedOfOrg(tx, request.org_id, unique.length);
      if (queued + unique.length > this.maxQueuedPerOrg) {
        throw new AppError(
          'queue_full',
          `org ${request.org_id} has ${queued} jobs queued; at most ${this.maxQueuedPerOrg} may wait at once: retry when some have run`,
          { retryAfterSeconds: 30 },
        );
      }
      const ids = unique.map(() => newId('job'));
      const idOf = new Map(unique.map((p, i) => [p, ids[i] as string]));
      // Most submits are all new: one statement does everything.
      const fast = await jobs.insertSubmissionFast(tx, {
        ...base,
        ids,
        testPaths: unique,
        idempotencyKey: idempotencyKey ?? null,
        requestHash,
        submissionJobIds: paths.map((p) => idOf.get(p) as string),
        submissionRepeats: paths.map((p, i) => paths.indexOf(p) !== i),
      });
      if (fast.keyTaken) return this.replay(tx, request.org_id, idempotencyKey as string, requestHash as string);
      const byPath = new Map<string, { row: JobRow; deduplicated: boolean }>();
      for (const row of fast.rows) byPath.set(row.test_path, { row, deduplicated: false });
      if (!fast.complete) {
        // Some jobs already had a queued or running twin: find them, and retry any that
        // finished in between (its twin gone, the job can be created after all).
        let missing = unique.filter((p) => !byPath.has(p));
        for (let round = 0; missing.length > 0; round++) {
          if (round === DEDUP_ROUNDS) throw new ConflictError('identical jobs keep changing state; submit again');
          const existing = await jobs.findActiveJobs(tx, { ...base, testPaths: missing });
          for (const row of existing) byPath.set(row.test_path, { row, deduplicated: true });
          missing = missing.filter((p) => !byPath.has(p));
          if (missing.length === 0) break;
          const inserted = await jobs.insertJobs(tx, {
            ...base,
            ids: missing.map(() => newId('job')),
            testPaths: missing,
          });
          for (const row of inserted) byPath.set(row.test_path, { row, deduplicated: false });
          missing = missing.filter((p) => !byPath.has(p));
        }
      }
      const entries = paths.map((p, i) => {
        const entry = byPath.get(p) as { row: JobRow; deduplicated: boolean };
        // A path repeated inside one submit is one job; its repeats count as deduplicated.
        return { row: entry.row, deduplicated: entry.deduplicated || paths.indexOf(p) !== i };
      });
      if (!fast.complete) {
        await submissions.insertSubmission(tx, {
          id: submissionId,
          orgId: request.org_id,
          jobIds: entries.map((e) => e.row.id),
          deduplicated: entries.map((e) => e.deduplicated),
        });
      }
      return {
        response: { submission_id: submissionId, jobs: entries.map((e) => submittedJob(e.row, e.deduplicated)) },
        replayed: false,
      };
    });
    const created = result.replayed ? 0 : result.response.jobs.filter((j) => !j.deduplicated).length;
    if (created > 0) {
      this.metrics?.jobsSubmitted.inc(created);
      this.wakeups?.queued(target, created);
    }
    return result;
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
