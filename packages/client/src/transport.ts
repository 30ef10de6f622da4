/**
 * The HTTP under the typed client: several server URLs may be given, and a request that
 * cannot connect, or gets a 502/503/504, moves on to the next URL. Only requests that are
 * safe to repeat (GET, or a submit carrying an idempotency key) are retried.
 */
import type { ErrorBody } from '@qgjob/protocol';
import { ApiError, UnreachableError } from './errors.js';

export interface ClientOptions {
  /** One URL, a comma-separated list, or an array: tried in order, failing over. */
  server: string | string[];
  token?: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Attempts over all URLs for a repeatable request. Default 3 per URL. */
  attempts?: number;
  userAgent?: string;
  signal?: AbortSignal;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'HEAD';
  /** Sent as JSON. */
  body?: unknown;
  /**
   * Sent as it is (instead of body), as application/octet-stream unless headers name another
   * content-type. A Blob (fs.openAsBlob) streams from disk.
   */
  bytes?: Uint8Array | Blob;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  /** May the request be sent again after a connection failure? */
  repeatable?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** A 304 Not Modified is an answer, not an error. */
  notModified?: boolean;
}

export function parseServers(server: string | string[]): string[] {
  const list = (Array.isArray(server) ? server : server.split(','))
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new TypeError('at least one server URL is needed');
  for (const url of list) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`server URL is not a URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`server URL must start with http:// or https://: ${url}`);
    }
  }
  return list;
}

const RETRY_STATUSES = new Set([502, 503, 504]);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Sends requests with failover; the typed API methods are QgjobClient's. */
export class Transport {
  readonly servers: string[];
  private preferred = 0;
  private readonly token: string | undefined;
  protected readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly userAgent: string;
  private readonly signal: AbortSignal | undefined;

  constructor(options: ClientOptions) {
    this.servers = parseServers(options.server);
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.attempts = options.attempts ?? 3 * this.servers.length;
    this.userAgent = options.userAgent ?? 'qgjob-client';
    this.signal = options.signal;
  }

  /** The URL that answered last (or will be tried first). */
  get server(): string {
    return this.servers[this.preferred] as string;
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(path, options);
    if (response.status === 204 || options.method === 'HEAD') return undefined as T;
    return (await response.json()) as T;
  }

  /**
   * Sends a request with failover and returns the successful response, its body unread
   * (a download streams it); any non-2xx answer is thrown as an ApiError.
   */
  async send(path: string, options: RequestOptions = {}): Promise<Response> {
    const method = options.method ?? 'GET';
    const repeatable = options.repeatable ?? method === 'GET';
    const attempts = repeatable ? Math.max(1, this.attempts) : this.servers.length;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const index = (this.preferred + attempt) % this.servers.length;
      const base = this.servers[index] as string;
      const url = new URL(base + path);
      for (const [k, v] of Object.entries(options.query ?? {})) {
        if (v !== undefined) url.searchParams.set(k, String(v));
      }
      const headers: Record<string, string> = {
        accept: 'application/json',
        'user-agent': this.userAgent,
        ...options.headers,
      };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.bytes !== undefined) headers['content-type'] ??= 'application/octet-stream';
      const signals = [AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs)];
      if (this.signal) signals.push(this.signal);
      if (options.signal) signals.push(options.signal);
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers,
          body: options.bytes ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        if (this.signal?.aborted || options.signal?.aborted) throw error;
        lastError = error;
        // A request that may have reached the server is not sent again unless repeatable.
        if (!repeatable && !isConnectError(error)) break;
        if (attempt + 1 < attempts && (attempt + 1) % this.servers.length === 0) {
          await sleep(Math.min(2000, 100 * 2 ** (attempt / this.servers.length)), this.signal);
        }
        continue;
      }
      if (RETRY_STATUSES.has(response.status) && repeatable && attempt + 1 < attempts) {
        lastError = await toApiError(response, url.toString());
        continue;
      }
      this.preferred = index;
      if (!response.ok && !(options.notModified && response.status === 304)) {
        throw await toApiError(response, url.toString());
      }
      return response;
    }
    if (lastError instanceof ApiError) throw lastError;
    throw new UnreachableError(this.servers, { cause: lastError });
  }
}

function isConnectError(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } })?.cause;
  const code = cause?.code ?? '';
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(
    code,
  );
}

async function toApiError(response: Response, url: string): Promise<ApiError> {
  let body: Partial<ErrorBody> | undefined;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    body = undefined;
  }
  const err = body?.error;
  const retryAfter = Number(response.headers.get('retry-after'));
  return new ApiError(
    response.status,
    err?.code ?? `http_${response.status}`,
    err?.message ?? `${response.status} ${response.statusText}`,
    url,
    err?.field,
    err?.allowed,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}
