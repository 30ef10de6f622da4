import {
  ClaimQuery,
  ClaimResponse,
  DrainResponse,
  IdParams,
  RegisterRequest,
  RegisterResponse,
  ReportRequest,
  ReportResponse,
  type Static,
} from '@qgjob/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { allow } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import { agentScope } from '../services/auth.js';
import type { Scheduler } from '../services/scheduler.js';

const errors = errorResponses(400, 401, 403, 404, 409);
const adminErrors = errorResponses(400, 401, 403, 404);
const DEFAULT_WAIT_MS = 25_000;

export function agentRoutes(app: FastifyInstance, scheduler: Scheduler, shutdown: AbortSignal): void {
  registerRoute(app, scheduler);
  claimRoute(app, scheduler, shutdown);
  reportRoute(app, scheduler);
  for (const drained of [true, false]) drainRoutes(app, scheduler, drained);
}

function registerRoute(app: FastifyInstance, scheduler: Scheduler): void {
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
    (request) => scheduler.register(request.body, agentScope(allow(request, 'agent', 'admin'))),
  );
}

type ClaimRoute = { Params: Static<typeof IdParams>; Querystring: ClaimQuery };

function claimRoute(app: FastifyInstance, scheduler: Scheduler, shutdown: AbortSignal): void {
  app.post<ClaimRoute>(
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
    (request, reply) => claimBatch(request, reply, scheduler, shutdown),
  );
}

async function claimBatch(
  request: FastifyRequest<ClaimRoute>,
  reply: FastifyReply,
  scheduler: Scheduler,
  shutdown: AbortSignal,
): Promise<ClaimResponse> {
  const scope = agentScope(allow(request, 'agent', 'admin'));
  // Stop waiting when the agent hangs up (the response closes before it was sent) or
  // this server shuts down.
  const gone = new AbortController();
  const hangUp = () => {
    if (!reply.raw.writableEnded) gone.abort();
  };
  reply.raw.once('close', hangUp);
  const stop = () => gone.abort();
  shutdown.addEventListener('abort', stop, { once: true });
  let answer: Awaited<ReturnType<Scheduler['claim']>>;
  try {
    answer = await scheduler.claim(request.params.id, request.query.wait_ms ?? DEFAULT_WAIT_MS, gone.signal, scope);
  } finally {
    shutdown.removeEventListener('abort', stop);
    reply.raw.off('close', hangUp);
  }
  const batch = answer.batch;
  if (batch && gone.signal.aborted) {
    await scheduler.releaseUndelivered(batch);
    return { batch: null };
  }
  if (batch) releaseIfUndelivered(request, reply, scheduler, batch);
  return answer;
}

/**
 * The agent may hang up before the answer is written: then it goes back at once.
 * (Written to a peer that is already gone: the lease expiry covers that.)
 */
function releaseIfUndelivered(
  request: FastifyRequest,
  reply: FastifyReply,
  scheduler: Scheduler,
  batch: NonNullable<ClaimResponse['batch']>,
): void {
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) {
      scheduler.releaseUndelivered(batch).catch((error) => request.log.warn({ err: error }, 'release failed'));
    }
  });
}

function reportRoute(app: FastifyInstance, scheduler: Scheduler): void {
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
    (request) => scheduler.report(request.params.id, request.body, agentScope(allow(request, 'agent', 'admin'))),
  );
}

/** Admin: drain (drained) or enable (not drained) one device, or every device of an agent. */
function drainRoutes(app: FastifyInstance, scheduler: Scheduler, drained: boolean): void {
  const verb = drained ? 'drain' : 'enable';
  const what = drained
    ? 'finishes the test it runs, hands the rest of its batch back, takes no more work'
    : 'takes work again (a drain and a quarantine lifted)';
  app.post<{ Params: Static<typeof IdParams> }>(
    `/v1/devices/:id/${verb}`,
    {
      schema: {
        summary: `Admin: ${verb} a device: it ${what}`,
        tags: ['agents'],
        params: IdParams,
        response: { 200: DrainResponse, ...adminErrors },
      },
    },
    (request) => {
      allow(request, 'admin');
      return scheduler.setDrained({ deviceId: request.params.id }, drained);
    },
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    `/v1/agents/:id/${verb}`,
    {
      schema: {
        summary: `Admin: ${verb} every device of an agent (by id or name): each ${what}`,
        tags: ['agents'],
        params: IdParams,
        response: { 200: DrainResponse, ...adminErrors },
      },
    },
    (request) => {
      allow(request, 'admin');
      return scheduler.setDrained({ agent: request.params.id }, drained);
    },
  );
}
