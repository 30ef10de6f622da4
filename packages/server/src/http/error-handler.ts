/** The one place errors become HTTP answers: `{"error": {code, message, field?, allowed?}}`. */
import { type ErrorCode, LIMITS, statusOf } from '@qgjob/protocol';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { RouteTable } from './edge.js';

interface Mapped {
  code: ErrorCode;
  message: string;
  field?: string;
  allowed?: string[];
  retryAfterSeconds?: number;
}

const MiB = 1024 * 1024;

function map(error: FastifyError | AppError | Error, request: FastifyRequest): Mapped {
  if (error instanceof AppError) return { code: error.code, message: error.message, ...error.details };
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'invalid_json', message: `request body is not valid JSON: ${error.message}`, field: 'body' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'invalid_json', message: 'request body is empty: send a JSON object', field: 'body' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        code: 'body_too_large',
        message: `request body is larger than ${LIMITS.bodyLimitBytes / MiB} MiB: split the submit (at most ${LIMITS.testsPerSubmission} tests each)`,
        field: 'body',
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        code: 'unsupported_media_type',
        message: 'send the body as JSON with content-type: application/json',
        field: 'content-type',
      };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        code: 'bad_request',
        message: 'the body is not as long as its content-length says',
        field: 'content-length',
      };
  }
  if (hungUp(error, request)) {
    return { code: 'bad_request', message: 'the client closed the connection before its request arrived whole' };
  }
  if (error instanceof SyntaxError && (error as FastifyError).statusCode === 400) {
    return { code: 'invalid_json', message: `request body is not valid JSON: ${error.message}`, field: 'body' };
  }
  if (isDatabaseDown(error)) {
    return { code: 'unavailable', message: 'the database is not reachable; try again shortly' };
  }
  const status = (error as FastifyError).statusCode;
  if (status === 404) return { code: 'not_found', message: error.message };
  if (status && status >= 400 && status < 500) return { code: 'validation_failed', message: error.message };
  return { code: 'internal', message: 'internal error; the server log has the details' };
}

/**
 * The client went away mid-request (its connection, not the database's, reset): its problem,
 * not the server's, and nobody reads the answer.
 */
function hungUp(error: Error, request: FastifyRequest): boolean {
  const code = (error as { code?: string }).code ?? '';
  const gone = request.raw.destroyed || request.raw.socket?.destroyed === true;
  return (
    error.message === 'aborted' ||
    (gone && ['ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'EPIPE'].includes(code))
  );
}

function isDatabaseDown(error: Error): boolean {
  const code = (error as { code?: string }).code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P03', '08006', '08001', '08003'].includes(code) ||
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message)
  );
}

export function installErrorHandler(app: FastifyInstance, routes: RouteTable): void {
  app.setErrorHandler((error, request, reply) => {
    const mapped = map(error as Error, request);
    const status = statusOf(mapped.code);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else if (hungUp(error as Error, request))
      request.log.info({ url: request.url.split('?')[0] }, 'client hung up mid-request');
    const body: { error: Mapped } = { error: { code: mapped.code, message: mapped.message } };
    if (mapped.field) body.error.field = mapped.field;
    if (mapped.allowed) body.error.allowed = mapped.allowed;
    if (status === 503) reply.header('retry-after', '1');
    if (mapped.retryAfterSeconds) reply.header('retry-after', String(mapped.retryAfterSeconds));
    return reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = routes.allowed(request.method, path);
    if (allowed.length > 0) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send({
          error: {
            code: 'method_not_allowed',
            message: `${path} does not take ${request.method}: use ${allowed.join(' or ')}; see /docs`,
          },
        });
    }
    return reply.status(404).send({
      error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` },
    });
  });
}
