/**
 * Test artifacts over HTTP: agents upload the files a run left (raw bytes, any content
 * type, kept as the file's type), org tokens and admins list a job's files and download
 * them. Downloads are always attachments, never shown inline, under the API's
 * `default-src 'none'` policy and `nosniff`: an uploaded HTML page or SVG cannot run
 * script in the server's origin.
 */
import { Readable } from 'node:stream';
import {
  ArtifactParams,
  ArtifactUploadQuery,
  IdParams,
  JobArtifacts,
  RunArtifactUpload,
  type Static,
  Type,
} from '@qgjob/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import { allow } from '../http/auth.js';
import { attachment, declaredLength, detached, dropWhenIdle, isStream, mediaTypeOf } from '../http/bytes.js';
import { errorResponses } from '../http/responses.js';
import { agentScope, orgScope } from '../services/auth.js';
import type { RunArtifactService } from '../services/run-artifacts.js';
import { UPLOAD_IDLE_MS } from './artifacts.js';

const errors = errorResponses(400, 401, 403, 404, 409, 413, 429);

export async function runArtifactRoutes(
  app: FastifyInstance,
  runArtifacts: RunArtifactService,
  uploadIdleMs = UPLOAD_IDLE_MS,
): Promise<void> {
  await app.register(async (scope) => {
    // The body is the file, whatever its type (a JSON attachment is a file too): never parsed.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    uploadRoute(scope, runArtifacts, uploadIdleMs);
  });
  listRoute(app, runArtifacts);
  downloadRoute(app, runArtifacts);
}

type Upload = { Params: Static<typeof IdParams>; Querystring: ArtifactUploadQuery; Body: Readable };

function uploadRoute(scope: FastifyInstance, runArtifacts: RunArtifactService, uploadIdleMs: number): void {
  scope.put<Upload>(
    '/v1/batches/:id/artifacts',
    {
      schema: {
        summary: "Agent: upload a file the test left in the output dir of a batch's running run",
        description:
          "The raw bytes are the body; its Content-Type is kept as the file's (default application/octet-stream). " +
          'The job must have a running run in this batch: the file attaches to it, and the same name again replaces ' +
          'it. The server computes the SHA-256 and keeps the bytes once per org. A file over 50 MiB is a 413; a run ' +
          'past 100 files or 200 MiB is a 409 `artifact_limit`.',
        tags: ['agents'],
        params: IdParams,
        querystring: ArtifactUploadQuery,
        response: { 200: RunArtifactUpload, ...errors },
      },
    },
    (request, reply) => uploadRunArtifact(request, reply, runArtifacts, uploadIdleMs),
  );
}

async function uploadRunArtifact(
  request: FastifyRequest<Upload>,
  reply: FastifyReply,
  runArtifacts: RunArtifactService,
  uploadIdleMs: number,
): Promise<RunArtifactUpload> {
  const agentToken = agentScope(allow(request, 'agent', 'admin'));
  const contentType = mediaTypeOf(request.headers['content-type']);
  const body = request.body as unknown;
  dropWhenIdle(request, reply, uploadIdleMs);
  try {
    return await runArtifacts.upload({
      batchId: request.params.id,
      jobId: request.query.job_id,
      name: request.query.name,
      contentType,
      // No body at all (no content type, no length): an empty file.
      source: isStream(body) ? detached(body) : Readable.from([]),
      declaredBytes: declaredLength(request),
      agentToken,
    });
  } catch (error) {
    // The rest of a refused body is not worth reading: the connection ends after the answer.
    if (error instanceof AppError && error.code === 'body_too_large') reply.header('connection', 'close');
    throw error;
  }
}

function listRoute(app: FastifyInstance, runArtifacts: RunArtifactService): void {
  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/jobs/:id/artifacts',
    {
      schema: {
        summary: "List the files a job's runs left (test artifacts), run by run",
        tags: ['jobs'],
        params: IdParams,
        response: { 200: JobArtifacts, ...errors },
      },
    },
    (request) => runArtifacts.list(request.params.id, orgScope(allow(request, 'org', 'admin'))),
  );
}

function downloadRoute(app: FastifyInstance, runArtifacts: RunArtifactService): void {
  app.get<{ Params: ArtifactParams }>(
    '/v1/jobs/:id/runs/:n/artifacts/*',
    {
      schema: {
        summary: 'Download a file a run left, by its name (which may hold /)',
        description:
          'Always an attachment (Content-Disposition), with the content type it was uploaded with and ' +
          '`X-Content-Type-Options: nosniff`; `X-Qgjob-Sha256` carries its hash.',
        tags: ['jobs'],
        params: ArtifactParams,
        response: {
          200: {
            description: 'The bytes of the file',
            content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } },
          },
          ...errors,
        },
      },
    },
    (request, reply) => downloadRunArtifact(request, reply, runArtifacts),
  );
}

async function downloadRunArtifact(
  request: FastifyRequest<{ Params: ArtifactParams }>,
  reply: FastifyReply,
  runArtifacts: RunArtifactService,
): Promise<FastifyReply> {
  const orgId = orgScope(allow(request, 'org', 'admin'));
  const { id, n } = request.params;
  const { artifact, stream, size } = await runArtifacts.open(id, n, request.params['*'], orgId);
  return reply
    .type(artifact.content_type)
    .header('content-length', size)
    .header('content-disposition', attachment(artifact.name))
    .header('x-content-type-options', 'nosniff')
    .header('x-qgjob-sha256', artifact.sha256)
    .send(stream);
}
