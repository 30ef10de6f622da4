import { IdParams, type Static, Type } from '@qgjob/protocol';
import type { FastifyInstance } from 'fastify';
import { allow } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import type { AuthService } from '../services/auth.js';

const TokenInfo = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('admin'), Type.Literal('org'), Type.Literal('agent')]),
  org_id: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  created_at: Type.String(),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});
const CreateToken = Type.Object(
  {
    kind: Type.Union([Type.Literal('admin'), Type.Literal('org'), Type.Literal('agent')], {
      description: 'admin: everything; org: one org’s jobs; agent: register, claim, report.',
    }),
    org_id: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' })),
    name: Type.String({ minLength: 1, maxLength: 100, description: 'What it is for, e.g. "github-ci".' }),
    expires_in_s: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);
const errors = errorResponses(400, 401, 403, 404);

export function tokenRoutes(app: FastifyInstance, auth: AuthService): void {
  app.post<{ Body: Static<typeof CreateToken> }>(
    '/v1/tokens',
    {
      schema: {
        summary: 'Admin: create a token (its secret is in this answer only)',
        tags: ['tokens'],
        body: CreateToken,
        response: { 201: Type.Intersect([TokenInfo, Type.Object({ token: Type.String() })]), ...errors },
      },
    },
    async (request, reply) => {
      allow(request, 'admin');
      const b = request.body;
      const created = await auth.create({
        kind: b.kind,
        orgId: b.org_id,
        name: b.name,
        expiresInMs: b.expires_in_s === undefined ? undefined : b.expires_in_s * 1000,
      });
      return reply.status(201).send(created);
    },
  );
  app.get(
    '/v1/tokens',
    {
      schema: {
        summary: 'Admin: list tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: Type.Object({ tokens: Type.Array(TokenInfo) }), ...errors },
      },
    },
    async (request) => {
      allow(request, 'admin');
      return { tokens: await auth.list() };
    },
  );
  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/tokens/:id/revoke',
    {
      schema: {
        summary: 'Admin: revoke a token',
        tags: ['tokens'],
        params: IdParams,
        response: { 200: TokenInfo, ...errors },
      },
    },
    async (request) => {
      allow(request, 'admin');
      return auth.revoke(request.params.id);
    },
  );
}
