import {
  ClaimQuery,
  ClaimResponse,
  ErrorBody,
  IdParams,
  RegisterRequest,
  RegisterResponse,
  ReportRequest,
  ReportResponse,
  type Static,
} from '@qgjob/protocol';
import type { FastifyInstance } from 'fastify';
import type { Scheduler } from '../services/scheduler.js';

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const DEFAULT_WAIT_MS = 25_000;

export function agentRoutes(app: FastifyInstance, scheduler: Scheduler, shutdown: AbortSignal): void {
  app.post<{ Body: RegisterRequest }>(
    '/v1/agents/register',
    {
      schema: {
        summary: 'Agent: register this host and its devices (idempotent by name)',
        tags: ['agents'],
        body: RegisterRequest,
        response: { 200: RegisterResponse, ...errors },
      },
    },
    (request) => scheduler.register(request.body),
  );

  app.post<{ Params: Static<typeof IdParams>; Querystring: ClaimQuery }>(
    '/v1/devices/:id/claim',
    {
      schema: {
        summary: 'Agent: long-poll for a batch for one device',
        tags: ['agents'],
        params: IdParams,
        querystring: ClaimQuery,
        response: { 200: ClaimResponse, ...errors },
      },
    },
    (request) => {
      // Stop waiting when the agent hangs up or this server shuts down.
      const gone = new AbortController();
      request.raw.once('close', () => gone.abort());
      const signal = AbortSignal.any([gone.signal, shutdown]);
      return scheduler.claim(request.params.id, request.query.wait_ms ?? DEFAULT_WAIT_MS, signal);
    },
  );

  app.post<{ Params: Static<typeof IdParams>; Body: ReportRequest }>(
    '/v1/batches/:id/report',
    {
      schema: {
        summary: 'Agent: report install/start/finish events on a batch; renews its lease',
        tags: ['agents'],
        params: IdParams,
        body: ReportRequest,
        response: { 200: ReportResponse, ...errors },
      },
    },
    (request) => scheduler.report(request.params.id, request.body),
  );
}
