import {
  ConditionalHeaders,
  IdParams,
  Job,
  JobList,
  JobSummaries,
  JobSummariesQuery,
  LIMITS,
  ListJobsQuery,
  MAX_SUMMARY_IDS,
  NotModified,
  type Static,
  Submission,
  SubmitRequest,
  SubmitResponse,
  Type,
  WaitQuery,
} from '@qgjob/protocol';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../errors.js';
import { allow, sameOrg } from '../http/auth.js';
import { etagOf, matchesTag } from '../http/etag.js';
import { untilGone } from '../http/hang-up.js';
import { errorResponses } from '../http/responses.js';
import { orgScope } from '../services/auth.js';
import type { HoldRequest, LongPolls } from '../services/long-poll.js';
import type { QueueService } from '../services/queue.js';
import { submissionPageUrl } from '../services/submission-page.js';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 422, 429);
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ description: 'Repeating a submit with the same key never creates twice.' }),
  ),
});

/** Answers a waiting read: 200 with the document (and its ETag), or 304 when the client's copy is current. */
async function heldAnswer<T>(
  polls: LongPolls,
  reply: FastifyReply,
  shutdown: AbortSignal,
  request: Omit<HoldRequest<T>, 'signal' | 'current'> & { ifNoneMatch: string | undefined },
): Promise<T | FastifyReply> {
  const gone = untilGone(reply, shutdown);
  try {
    const { ifNoneMatch, ...read } = request;
    const held = await polls.hold({
      ...read,
      current: (doc) => matchesTag(ifNoneMatch, etagOf(doc)),
      signal: gone.signal,
    });
    reply.header('etag', etagOf(held.doc));
    reply.header('cache-control', 'no-cache');
    if (held.changed) return held.doc;
    // Sent explicitly: an async handler resolving to nothing would leave the reply open.
    return reply.status(304).send();
  } finally {
    gone.done();
  }
}

function splitIds(ids: string): string[] {
  const list = ids.split(',').map((id) => id.trim());
  if (list.some((id) => id.length === 0 || id.length > 64)) {
    throw new AppError('validation_failed', 'ids must be job ids separated by commas, each 1-64 characters', {
      field: 'ids',
    });
  }
  if (list.length > MAX_SUMMARY_IDS) {
    throw new AppError('validation_failed', `ids may name at most ${MAX_SUMMARY_IDS} jobs (got ${list.length})`, {
      field: 'ids',
    });
  }
  return list;
}

const waitingResponses = { 200: Submission, 304: NotModified, ...errors };

export function jobRoutes(
  app: FastifyInstance,
  queue: QueueService,
  polls: LongPolls,
  shutdown: AbortSignal,
  /** Where users reach this server: a submit's answer links to the submission's page under it. */
  publicUrl?: string,
): void {
  summariesRoute(app, queue, polls, shutdown);
  submitRoute(app, queue, publicUrl);
  jobReadRoutes(app, queue);
  cancelRoute(app, queue);
  submissionRoute(app, queue, polls, shutdown);
}

/** POST /v1/jobs: one job or a submission of many, idempotent with a key. */
function submitRoute(app: FastifyInstance, queue: QueueService, publicUrl: string | undefined): void {
  app.post<{ Body: SubmitRequest; Headers: Static<typeof IdempotencyHeaders> }>(
    '/v1/jobs',
    {
      schema: {
        summary: 'Submit one job (test_path) or many (tests) as one submission',
        tags: ['jobs'],
        body: SubmitRequest,
        headers: IdempotencyHeaders,
        response: { 200: SubmitResponse, 201: SubmitResponse, ...errors },
      },
    },
    async (request, reply) => {
      const principal = allow(request, 'org', 'admin');
      sameOrg(principal, request.body.org_id, 'org_id');
      const key = request.headers['idempotency-key'];
      if (key !== undefined && (key.length === 0 || key.length > LIMITS.idempotencyKeyMaxLength)) {
        throw new AppError(
          'validation_failed',
          `Idempotency-Key must be 1-${LIMITS.idempotencyKeyMaxLength} characters`,
          {
            field: 'Idempotency-Key',
          },
        );
      }
      const result = await queue.submit(request.body, key);
      const created = result.response.jobs.filter((j) => !j.deduplicated);
      request.log.info(
        {
          submission: result.response.submission_id,
          org: request.body.org_id,
          app_version: request.body.app_version_id,
          jobs: created.map((j) => j.id),
          deduplicated: result.response.jobs.length - created.length,
          replayed: result.replayed,
        },
        'jobs submitted',
      );
      const page = submissionPageUrl(publicUrl, result.response.submission_id);
      const answer = page ? { ...result.response, url: page } : result.response;
      return reply.status(result.replayed ? 200 : 201).send(answer);
    },
  );
}

/** Reads of jobs that answer at once: the list and one job. */
function jobReadRoutes(app: FastifyInstance, queue: QueueService): void {
  app.get<{ Querystring: ListJobsQuery }>(
    '/v1/jobs',
    {
      schema: {
        summary: 'List jobs, newest first, with cursor pagination',
        tags: ['jobs'],
        querystring: ListJobsQuery,
        response: { 200: JobList, ...errors },
      },
    },
    (request) => {
      const principal = allow(request, 'org', 'admin');
      sameOrg(principal, request.query.org_id, 'org_id');
      return queue.listJobs({ ...request.query, org_id: orgScope(principal) ?? request.query.org_id });
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/jobs/:id',
    {
      schema: {
        summary: 'Read a job with its runs',
        tags: ['jobs'],
        params: IdParams,
        response: { 200: Job, ...errors },
      },
    },
    (request) => queue.getJob(request.params.id, orgScope(allow(request, 'org', 'admin'))),
  );
}

/** POST /v1/jobs/{id}/cancel. */
function cancelRoute(app: FastifyInstance, queue: QueueService): void {
  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/jobs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a job that has not finished',
        description:
          'A queued, assigned or running job ends cancelled at once; a running run ends cancelled and its agent stops the test at its next report. A finished job is a 409 conflict and does not change.',
        tags: ['jobs'],
        params: IdParams,
        response: { 200: Job, ...errors },
      },
    },
    async (request) => {
      const job = await queue.cancelJob(request.params.id, orgScope(allow(request, 'org', 'admin')));
      request.log.info({ job: job.id, org: job.org_id }, 'job cancelled');
      return job;
    },
  );
}

/** GET /v1/jobs/summaries: several jobs' status; with `?wait=` and If-None-Match, waits for one to change. */
function summariesRoute(app: FastifyInstance, queue: QueueService, polls: LongPolls, shutdown: AbortSignal): void {
  app.get<{ Querystring: JobSummariesQuery; Headers: ConditionalHeaders }>(
    '/v1/jobs/summaries',
    {
      schema: {
        summary: 'Read the status of several jobs; with wait and If-None-Match, wait for one to change',
        description:
          'Answers 200 with the jobs and an ETag. Sent again with If-None-Match (that ETag) and wait (seconds), ' +
          'the request is held until a job of it changes status (200, the new document and ETag) or wait ' +
          'ends (304 Not Modified, no body).',
        tags: ['jobs'],
        querystring: JobSummariesQuery,
        headers: ConditionalHeaders,
        response: { ...waitingResponses, 200: JobSummaries },
      },
    },
    (request, reply) => {
      const scope = orgScope(allow(request, 'org', 'admin'));
      const ids = splitIds(request.query.ids);
      return heldAnswer(polls, reply, shutdown, {
        read: () => queue.getJobSummaries(ids, scope),
        jobIds: (doc) => doc.jobs.map((job) => job.id),
        ifNoneMatch: request.headers['if-none-match'],
        waitMs: (request.query.wait ?? 0) * 1000,
      });
    },
  );
}

/** GET /v1/submissions/{id}: a submission and its jobs; with `?wait=`, waits for a job to change. */
function submissionRoute(app: FastifyInstance, queue: QueueService, polls: LongPolls, shutdown: AbortSignal): void {
  app.get<{ Params: Static<typeof IdParams>; Querystring: WaitQuery; Headers: ConditionalHeaders }>(
    '/v1/submissions/:id',
    {
      schema: {
        summary: 'Read a submission and its jobs; with wait and If-None-Match, wait for a job to change',
        description:
          'Answers 200 with the submission and an ETag. Sent again with If-None-Match (that ETag) and wait ' +
          '(seconds), the request is held until a job of it changes status (200, the new document and ETag) ' +
          'or wait ends (304 Not Modified, no body).',
        tags: ['submissions'],
        params: IdParams,
        querystring: WaitQuery,
        headers: ConditionalHeaders,
        response: waitingResponses,
      },
    },
    (request, reply) => {
      const scope = orgScope(allow(request, 'org', 'admin'));
      return heldAnswer(polls, reply, shutdown, {
        read: () => queue.getSubmission(request.params.id, scope),
        jobIds: (doc) => doc.jobs.map((job) => job.id),
        ifNoneMatch: request.headers['if-none-match'],
        waitMs: (request.query.wait ?? 0) * 1000,
      });
    },
  );
}
