/**
 * Sends a request exactly as given: the path as raw bytes (no URL normalisation, so `..`,
 * `%00` and `%ff` reach the server), the body as a Buffer. node:http carries most requests;
 * one whose method, path or header values node:http refuses to write (a NUL, a control
 * character, a character past U+00FF) goes out over a plain socket instead.
 *
 * An event stream (`text/event-stream`) is read only until its first bytes, then dropped.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Answer } from './openapi.js';

export interface WireRequest {
  method: string;
  /** Raw request target: path and query, already escaped as it should go out. */
  path: string;
  /** Header values; an array sends the header once per value. */
  headers: Record<string, string | string[]>;
  body?: Buffer;
}

export type WireResult = (Answer & { ms: number; raw: boolean }) | { error: string; ms: number; raw: boolean };

const NODE_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const NODE_PATH = /^[\x21-\xff]*$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** True when node:http would refuse to send this request as it is. */
export function needsRawSocket(req: WireRequest): boolean {
  if (!TOKEN.test(req.method) || !NODE_PATH.test(req.path)) return true;
  for (const [name, value] of Object.entries(req.headers)) {
    // A content-length of our own (wrong on purpose) is refused or corrected by node:http.
    if (!TOKEN.test(name) || name.toLowerCase() === 'content-length') return true;
    for (const v of Array.isArray(value) ? value : [value]) if (!NODE_HEADER_VALUE.test(v)) return true;
  }
  return false;
}

const STREAM_MS = 300;

export function send(base: URL, req: WireRequest, timeoutMs: number): Promise<WireResult> {
  return needsRawSocket(req) ? sendRaw(base, req, timeoutMs) : sendHttp(base, req, timeoutMs);
}

function flatten(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function sendHttp(base: URL, req: WireRequest, timeoutMs: number): Promise<WireResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: WireResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const headers: Record<string, string | string[]> = { ...req.headers };
    if (req.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(req.body.length);
    }
    const r = httpRequest(
      { host: base.hostname, port: Number(base.port), method: req.method, path: req.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        const done = () =>
          finish({
            status: res.statusCode ?? 0,
            headers: flatten(res.headers),
            body: Buffer.concat(chunks),
            ms: ms(),
            raw: false,
          });
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', done);
        res.on('error', done);
        res.on('close', done);
        if (/^text\/event-stream/i.test(String(res.headers['content-type'] ?? ''))) {
          setTimeout(() => {
            done();
            res.destroy();
          }, STREAM_MS);
        }
      },
    );
    const timer = setTimeout(() => {
      finish({ error: `no answer within ${timeoutMs} ms`, ms: ms(), raw: false });
      r.destroy();
    }, timeoutMs);
    // An error after the answer (the server closed while the rest of a large body was in flight) is not one.
    r.on('error', (error) =>
      finish({ error: `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`, ms: ms(), raw: false }),
    );
    r.end(req.body);
  });
}

/** Header values go out as UTF-8 bytes: a NUL is a 0x00 byte, a lone surrogate EF BF BD. */
function sendRaw(base: URL, req: WireRequest, timeoutMs: number): Promise<WireResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (result: WireResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const parseNow = () => {
      const parsed = parseResponse(Buffer.concat(chunks), req.method);
      finish(
        parsed
          ? { ...parsed, ms: ms(), raw: true }
          : { error: 'connection closed without an answer', ms: ms(), raw: true },
      );
    };
    const timer = setTimeout(
      () => finish({ error: `no answer within ${timeoutMs} ms`, ms: ms(), raw: true }),
      timeoutMs,
    );
    socket.on('connect', () => {
      const lines = [`${req.method} ${req.path} HTTP/1.1`, `host: ${base.host}`, 'connection: close'];
      for (const [name, value] of Object.entries(req.headers)) {
        for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
      }
      const declared = Object.keys(req.headers).some((h) => h.toLowerCase() === 'content-length');
      if (req.body !== undefined && !declared) lines.push(`content-length: ${req.body.length}`);
      socket.write(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'));
      if (req.body !== undefined) socket.write(req.body);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end >= 0 && /\r\ncontent-type:\s*text\/event-stream/i.test(all.subarray(0, end).toString('latin1'))) {
        setTimeout(parseNow, STREAM_MS);
      }
    });
    socket.on('end', parseNow);
    socket.on('close', parseNow);
    socket.on('error', () => parseNow());
  });
}

function parseResponse(data: Buffer, method: string): Answer | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!status) return undefined;
  const headers: Record<string, string | undefined> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = data.subarray(end + 4);
  if (method === 'HEAD') body = Buffer.alloc(0);
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status, headers, body };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}
