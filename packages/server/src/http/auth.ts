/**
 * Authentication and per-org limits at the HTTP edge. Every /v1 request gets a
 * principal (or a 401); routes then say which kinds may call them (`allow`), and pass
 * the principal's org or agent scope down to the services, which keep other orgs' rows
 * invisible (404, never 403, so existence does not leak).
 */

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { AuthService, Principal } from '../services/auth.js';
import type { RateLimiter } from '../services/rate-limit.js';
import { SECURITY_HEADERS } from './edge.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface EdgeLimits {
  submits: RateLimiter;
  reads: RateLimiter;
}

export function installAuth(app: FastifyInstance, auth: AuthService, limits: EdgeLimits): void {
  app.decorateRequest('principal', null as never);
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/')) return;
    request.principal = await auth.authenticate(request.headers.authorization);
    // Orgs are limited; agents and admins are not (their traffic is the farm's own).
    if (request.principal.kind !== 'org') return;
    const submitting = request.method === 'POST' && request.url.split('?')[0] === '/v1/jobs';
    const wait = (submitting ? limits.submits : limits.reads).take(`${request.principal.orgId}`);
    if (wait > 0) {
      throw new AppError(
        'rate_limited',
        `too many ${submitting ? 'submits' : 'requests'} for org ${request.principal.orgId}: retry in ${wait} s`,
        { retryAfterSeconds: wait },
      );
    }
  });
  app.addHook('onSend', async (request, reply) => {
    // /docs is a page of its own (swagger-ui sets its policy and may be cached).
    if (request.url.startsWith('/docs')) {
      for (const name of ['x-content-type-options', 'x-frame-options', 'referrer-policy'] as const) {
        reply.header(name, SECURITY_HEADERS[name]);
      }
    } else {
      reply.headers(SECURITY_HEADERS);
    }
  });
}

/** Throws 403 unless the caller is of one of these kinds (open mode allows everything). */
export function allow(request: FastifyRequest, ...kinds: Exclude<Principal['kind'], 'open'>[]): Principal {
  const p = request.principal;
  if (p.kind === 'open' || (kinds as string[]).includes(p.kind)) return p;
  const what = p.kind === 'agent' ? 'an agent token' : p.kind === 'org' ? 'an org token' : 'this token';
  throw new AppError('forbidden', `${what} cannot do this: it needs ${kinds.join(' or ')} credentials`);
}

/** An org token may only name its own org. */
export function sameOrg(p: Principal, orgId: string | undefined, field: string): void {
  if (p.kind === 'org' && orgId !== undefined && orgId !== p.orgId) {
    throw new AppError('forbidden', `${field} ${orgId} is not the org of this token (${p.orgId})`, { field });
  }
}
