import {
  IdParams,
  Job,
  JobList,
  LIMITS,
  ListJobsQuery,
  type Static,
  Submission,
  SubmitRequest,
  SubmitResponse,
  Type,
} from '@qgjob/protocol';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { allow, sameOrg } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import { orgScope } from '../services/auth.js';
import type { QueueService } from '../services/queue.js';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 422, 429);
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ description: 'Repeating a submit with the same key never creates twice.' }),
  ),
});

export function jobRoutes(app: FastifyInstance, queue: QueueService): void {
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
      return reply.status(result.replayed ? 200 : 201).send(result.response);
    },
  );

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

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/submissions/:id',
    {
      schema: {
        summary: 'Read a submission and its jobs',
        tags: ['submissions'],
        params: IdParams,
        response: { 200: Submission, ...errors },
      },
    },
    (request) => queue.getSubmission(request.params.id, orgScope(allow(request, 'org', 'admin'))),
  );
}
