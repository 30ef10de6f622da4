/**
 * Blobs (app builds and test bundles, by SHA-256), app versions' builds, and the
 * BrowserStack upload handshake of agents.
 *
 * Uploads stream: PUT /v1/blobs/{sha256} takes the raw bytes (application/octet-stream),
 * hashes them on the way to the blob store and refuses them when they do not match.
 */
import type { Readable } from 'node:stream';
import {
  AppBuild,
  AppQuery,
  AppRegisterRequest,
  BlobInfo,
  BlobParams,
  BlobQuery,
  BrowserStackAppResponse,
  BrowserStackAppResult,
  IdParams,
  type Static,
} from '@qgjob/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../errors.js';
import { allow, sameOrg } from '../http/auth.js';
import { declaredLength, dropWhenIdle, isStream } from '../http/bytes.js';
import { errorResponses } from '../http/responses.js';
import type { ArtifactService } from '../services/artifacts.js';
import { agentScope, orgScope, type Principal } from '../services/auth.js';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 415, 422);

/** An upload that sends no byte for this long is dropped, its partial file with it. */
export const UPLOAD_IDLE_MS = 120_000;

/** The org a request acts for: its token's, or (open mode, admin) the org_id it names. */
function orgOf(principal: Principal, orgId: string | undefined, required: boolean): string | undefined {
  sameOrg(principal, orgId, 'org_id');
  const org = orgScope(principal) ?? orgId;
  if (required && org === undefined) {
    throw new ValidationError([{ field: 'org_id', message: 'org_id is required (the org the blob belongs to)' }]);
  }
  return org;
}

/** Orgs see their own blobs; agents and admins any org's (named by org_id, when given). */
function readScope(request: FastifyRequest, orgId: string | undefined): string | null {
  const principal = allow(request, 'org', 'agent', 'admin');
  if (principal.kind === 'agent') return orgId ?? null;
  return orgOf(principal, orgId, false) ?? null;
}

export async function artifactRoutes(
  app: FastifyInstance,
  artifacts: ArtifactService,
  uploadIdleMs = UPLOAD_IDLE_MS,
): Promise<void> {
  await app.register(async (scope) => {
    // Only these routes read raw bytes; everywhere else a non-JSON body stays a 415.
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    blobHeadRoute(scope, artifacts);
    blobDownloadRoute(scope, artifacts);
    blobUploadRoute(scope, artifacts, uploadIdleMs);
  });
  appBuildRoutes(app, artifacts);
  browserstackAppRoutes(app, artifacts);
}

function blobHeadRoute(scope: FastifyInstance, artifacts: ArtifactService): void {
  scope.head<{ Params: BlobParams; Querystring: BlobQuery }>(
    '/v1/blobs/:sha256',
    {
      schema: {
        summary: 'Whether the server holds a blob for the org (a client skips uploading it)',
        tags: ['blobs'],
        params: BlobParams,
        querystring: BlobQuery,
      },
    },
    async (request, reply) => {
      const row = await artifacts.find(request.params.sha256, readScope(request, request.query.org_id));
      if (!row || (request.query.kind !== undefined && row.kind !== request.query.kind)) {
        return reply.status(404).send();
      }
      return reply.header('content-length', row.size).header('x-qgjob-kind', row.kind).status(200).send();
    },
  );
}

function blobDownloadRoute(scope: FastifyInstance, artifacts: ArtifactService): void {
  scope.get<{ Params: BlobParams; Querystring: BlobQuery }>(
    '/v1/blobs/:sha256',
    {
      schema: {
        summary: 'Download a blob (agents: the builds and bundles of their batches)',
        tags: ['blobs'],
        params: BlobParams,
        querystring: BlobQuery,
        response: {
          200: {
            description: 'The bytes, as uploaded (`x-qgjob-sha256` names them).',
            content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { stream, size } = await artifacts.open(request.params.sha256, readScope(request, request.query.org_id));
      return reply
        .type('application/octet-stream')
        .header('content-length', size)
        .header('x-qgjob-sha256', request.params.sha256)
        .send(stream);
    },
  );
}

type BlobUpload = { Params: BlobParams; Querystring: BlobQuery; Body: Readable };

function blobUploadRoute(scope: FastifyInstance, artifacts: ArtifactService, uploadIdleMs: number): void {
  scope.put<BlobUpload>(
    '/v1/blobs/:sha256',
    {
      schema: {
        summary: 'Upload a blob under its SHA-256 (application/octet-stream); refused when the bytes do not match',
        tags: ['blobs'],
        params: BlobParams,
        querystring: BlobQuery,
        response: { 200: BlobInfo, 201: BlobInfo, ...errors },
      },
    },
    (request, reply) => uploadBlob(request, reply, artifacts, uploadIdleMs),
  );
}

async function uploadBlob(
  request: FastifyRequest<BlobUpload>,
  reply: FastifyReply,
  artifacts: ArtifactService,
  uploadIdleMs: number,
): Promise<FastifyReply> {
  const org = orgOf(allow(request, 'org', 'admin'), request.query.org_id, true) as string;
  const kind = request.query.kind;
  if (kind === undefined) {
    throw new ValidationError([
      { field: 'kind', message: 'kind is required: app or bundle', allowed: ['app', 'bundle'] },
    ]);
  }
  const body = request.body as unknown;
  if (!isStream(body)) {
    throw new AppError(
      'unsupported_media_type',
      'send the blob as the raw request body with content-type application/octet-stream',
      { field: 'content-type' },
    );
  }
  const declared = declaredLength(request);
  if (declared !== undefined && declared > artifacts.maxBytes(kind)) {
    throw new AppError(
      'body_too_large',
      `the ${kind === 'app' ? 'app build' : 'test bundle'} is ${declared} bytes, more than the limit of ${artifacts.maxBytes(kind)}`,
      { field: 'body' },
    );
  }
  dropWhenIdle(request, reply, uploadIdleMs);
  const info = await artifacts.upload(org, request.params.sha256, kind, body);
  return reply.status(info.uploaded ? 201 : 200).send(info);
}

/** POST /v1/apps registers an app version's build, GET /v1/apps reads it back. */
function appBuildRoutes(app: FastifyInstance, artifacts: ArtifactService): void {
  app.post<{ Body: AppRegisterRequest }>(
    '/v1/apps',
    {
      schema: {
        summary: 'Register the build of an app version: an uploaded blob (sha256) or a URL the server fetches',
        tags: ['apps'],
        body: AppRegisterRequest,
        response: { 200: AppBuild, 201: AppBuild, ...errors },
      },
    },
    async (request, reply) => {
      sameOrg(allow(request, 'org', 'admin'), request.body.org_id, 'org_id');
      const build = await artifacts.registerApp(request.body);
      return reply.status(build.created ? 201 : 200).send(build);
    },
  );

  app.get<{ Querystring: AppQuery }>(
    '/v1/apps',
    {
      schema: {
        summary: 'The build registered for an app version',
        tags: ['apps'],
        querystring: AppQuery,
        response: { 200: AppBuild, ...errors },
      },
    },
    (request) => {
      const org = orgOf(allow(request, 'org', 'admin'), request.query.org_id, false);
      if (org === undefined) throw new ValidationError([{ field: 'org_id', message: 'org_id is required' }]);
      return artifacts.getApp(org, request.query.app_version_id);
    },
  );
}

/** The BrowserStack upload handshake: POST asks for the bs:// URL (or the lease), PUT reports the upload. */
function browserstackAppRoutes(app: FastifyInstance, artifacts: ArtifactService): void {
  app.post<{ Params: Static<typeof IdParams> }>(
    '/v1/batches/:id/browserstack-app',
    {
      schema: {
        summary: "Agent: the bs:// URL of a BrowserStack batch's build, or the lease to upload it",
        tags: ['agents'],
        params: IdParams,
        response: { 200: BrowserStackAppResponse, ...errors },
      },
    },
    (request) => artifacts.browserstackApp(request.params.id, agentScope(allow(request, 'agent', 'admin'))),
  );

  app.put<{ Params: Static<typeof IdParams>; Body: BrowserStackAppResult }>(
    '/v1/batches/:id/browserstack-app',
    {
      schema: {
        summary: 'Agent: the outcome of the BrowserStack upload this batch held the lease for',
        tags: ['agents'],
        params: IdParams,
        body: BrowserStackAppResult,
        response: { 200: BrowserStackAppResponse, ...errors },
      },
    },
    (request) =>
      artifacts.browserstackResult(request.params.id, request.body, agentScope(allow(request, 'agent', 'admin'))),
  );
}
