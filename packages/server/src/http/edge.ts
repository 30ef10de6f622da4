/**
 * The answers the framework and Node's HTTP parser would otherwise give in their own words:
 * a URL that is not valid UTF-8 or a path parameter past its length (Fastify's
 * frameworkErrors), an unreadable request line or header, a header section too large, a
 * request that timed out (Node's clientError), and a known path asked with a method it does
 * not take (405 with `Allow`). Every one gets the documented body,
 * `{"error": {code, message, field?}}`, and the same security headers as every other answer.
 */
import type { Socket } from 'node:net';
import { type ErrorCode, statusOf } from '@qgjob/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Sent with every answer (the dashboard and /docs set their own content policy). */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

/** A path parameter (an id) longer than this is refused before routing; ids are far shorter. */
export const MAX_PARAM_LENGTH = 512;

interface EdgeBody {
  error: { code: ErrorCode; message: string; field?: string };
}

function body(code: ErrorCode, message: string, field?: string): EdgeBody {
  return { error: field ? { code, message, field } : { code, message } };
}

/** Fastify's `frameworkErrors`: a URL it cannot decode, a path parameter too long. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const answer = tooLong
    ? body('uri_too_long', `a path segment is longer than ${MAX_PARAM_LENGTH} characters: ids are far shorter`, 'path')
    : body('bad_request', 'the URL is not valid: its %-escapes must encode UTF-8', 'path');
  reply.headers(SECURITY_HEADERS).code(statusOf(answer.error.code)).type('application/json').send(answer);
}

/** Node's `clientError`: the request could not even be parsed. Answers on the raw socket. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? body('request_timeout', 'the request did not arrive in time')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? body('headers_too_large', 'the request line and headers are larger than 16 KiB', 'headers')
        : body('bad_request', `the request could not be read: ${reason(error.code)}`, 'headers');
  const text = JSON.stringify(answer);
  const status = statusOf(answer.error.code);
  const headers = {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    connection: 'close',
  };
  if (socket.writable) {
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${text}`);
  }
  socket.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

function reason(code: string | undefined): string {
  switch (code) {
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_HEADER_VALUE':
    case 'HPE_INVALID_CHARACTER':
      return 'a header holds a character HTTP does not allow (a control character such as NUL)';
    case 'HPE_INVALID_METHOD':
      return 'the method is not an HTTP method';
    case 'HPE_INVALID_URL':
      return 'the request target is not a URL';
    default:
      return 'it is not valid HTTP/1.1';
  }
}

/**
 * Remembers every route's method and path, so the not-found handler can tell "no such
 * path" (404) from "this path, another method" (405, with `Allow`).
 */
export class RouteTable {
  private readonly routes: { method: string; pattern: RegExp }[] = [];

  install(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const pattern = new RegExp(
        `^${route.url
          .split('/')
          .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : escapeRegExp(part)))
          .join('/')}/?$`,
      );
      for (const method of methods) this.routes.push({ method, pattern });
    });
  }

  /** The methods that path takes, when the asked one is not among them. */
  allowed(method: string, path: string): string[] {
    const methods = new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.size === 0 || methods.has(method)) return [];
    return [...methods].sort();
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
