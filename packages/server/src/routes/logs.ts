/**
 * Run logs over HTTP: agents append to the runs of their batches, org tokens and admins
 * read a job's log with a cursor. Reports may carry logs too (the scheduler writes them
 * through the same LogService).
 */
import { IdParams, JobLogs, LogsQuery, LogsRequest, LogsResponse, type Static } from '@qgjob/protocol';
import type { FastifyInstance } from 'fastify';
import { allow } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import { agentScope, orgScope } from '../services/auth.js';
import type { LogService } from '../services/logs.js';

const errors = errorResponses(400, 401, 403, 404, 409, 429);

export function logRoutes(app: FastifyInstance, logs: LogService): void {
  app.post<{ Params: Static<typeof IdParams>; Body: LogsRequest }>(
    '/v1/batches/:id/logs',
    {
      schema: {
        summary: "Agent: append output to the running runs of a batch's jobs",
        description:
          'Chunks for a job with no running run in this batch are dropped (`accepted` counts the rest). ' +
          'A run keeps at most 256 KiB of text; past that one marker chunk counts what was dropped, ' +
          'and `truncated` names the jobs whose log is full.',
        tags: ['agents'],
        params: IdParams,
        body: LogsRequest,
        response: { 200: LogsResponse, ...errors },
      },
    },
    (request) => logs.append(request.params.id, request.body, agentScope(allow(request, 'agent', 'admin'))),
  );

  app.get<{ Params: Static<typeof IdParams>; Querystring: LogsQuery }>(
    '/v1/jobs/:id/logs',
    {
      schema: {
        summary: "Read a job's run logs in order, from a cursor",
        description:
          'Pass `next_after` back as `after` to get only newer chunks. `done` is true once the job ' +
          'is finished and every chunk has been returned.',
        tags: ['jobs'],
        params: IdParams,
        querystring: LogsQuery,
        response: { 200: JobLogs, ...errors },
      },
    },
    (request) => logs.read(request.params.id, request.query.after, orgScope(allow(request, 'org', 'admin'))),
  );
}
