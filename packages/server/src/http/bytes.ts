/** Requests and answers that carry raw bytes instead of JSON: uploads, downloads and their headers. */
import type { Socket } from 'node:net';
import { finished, PassThrough, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../errors.js';

/** True when a raw-bytes content-type parser passed the body on as the request stream. */
export function isStream(body: unknown): body is Readable {
  return typeof body === 'object' && body !== null && typeof (body as Readable).pipe === 'function';
}

/**
 * The body of an upload, behind a stream the upload may destroy when it refuses the bytes
 * (too many of them) without destroying the request: the refusal still reaches the client.
 * A request that breaks off breaks this stream too.
 */
export function detached(body: Readable): Readable {
  const out = new PassThrough();
  body.pipe(out);
  finished(body, (error) => {
    if (error) out.destroy(error);
  });
  return out;
}

/** Drops an upload that sends no byte for `idleMs` (its partial file goes with it). */
export function dropWhenIdle(request: FastifyRequest, reply: FastifyReply, idleMs: number): void {
  // Injected requests, as in tests, have no real socket.
  const socket = request.raw.socket as Partial<Socket> | undefined;
  socket?.setTimeout?.(idleMs);
  reply.raw.once('close', () => socket?.setTimeout?.(0));
}

/** Content-Length as a number, when the request gave one. */
export function declaredLength(request: FastifyRequest): number | undefined {
  const declared = Number(request.headers['content-length']);
  return Number.isFinite(declared) ? declared : undefined;
}

const TOKEN = '[a-z0-9][a-z0-9!#$&^_.+-]{0,126}';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`);

/**
 * The media type of an upload as it will be served again: `type/subtype` lowercased, its
 * parameters kept; application/octet-stream when none was sent.
 */
export function mediaTypeOf(header: string | undefined): string {
  const text = header?.trim() ?? '';
  if (text === '') return 'application/octet-stream';
  const [type = '', ...params] = text.split(';');
  const media = type.trim().toLowerCase();
  if (text.length > 255 || !MEDIA_TYPE.test(media) || [...text].some((c) => c < ' ' || c === '\x7f')) {
    throw new ValidationError([
      {
        field: 'content-type',
        message: `content-type must be a media type such as image/png, at most 255 characters (got ${JSON.stringify(text.slice(0, 60))})`,
      },
    ]);
  }
  return [media, ...params.map((p) => p.trim()).filter((p) => p !== '')].join('; ');
}

/**
 * `Content-Disposition` that makes a browser save the file under the last segment of
 * `name` and never show it inline: a plain ASCII `filename` (anything else replaced by _)
 * for old clients, and the exact name in `filename*` (RFC 6266, RFC 8187).
 */
export function attachment(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const ascii = [...base].map((c) => (c < ' ' || c > '~' || c === '"' || c === '\\' || c === '%' ? '_' : c)).join('');
  const exact = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}
