/**
 * Typed HTTP client for job-server's /v1 API. The CLI and the agent talk to the
 * server only through this class; neither ever holds database credentials.
 *
 * Several server URLs may be given: a request that cannot connect, or gets a 502/503/504,
 * moves on to the next URL. Only requests that are safe to repeat (GET, or a submit
 * carrying an idempotency key) are retried.
 */
import type {
  AgentList,
  AppBuild,
  AppQuery,
  AppRegisterRequest,
  BlobInfo,
  BlobKind,
  BrowserStackAppResponse,
  BrowserStackAppResult,
  ClaimResponse,
  DrainResponse,
  ErrorBody,
  Job,
  JobArtifacts,
  JobList,
  JobLogs,
  JobSummaries,
  ListJobsQuery,
  LogsRequest,
  LogsResponse,
  RegisterRequest,
  RegisterResponse,
  ReportRequest,
  ReportResponse,
  RunArtifact,
  Submission,
  SubmitRequest,
  SubmitResponse,
} from '@qgjob/protocol';
import { ApiError, UnreachableError } from './errors.js';
import { type Watched, type WatchOptions, watchedAnswer, watchRequest } from './watch.js';

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

export class QgjobClient {
  readonly servers: string[];
  private preferred = 0;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
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

  submit(body: SubmitRequest, options: { idempotencyKey?: string } = {}): Promise<SubmitResponse> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    return this.request('/v1/jobs', {
      method: 'POST',
      body,
      headers,
      repeatable: options.idempotencyKey !== undefined,
    });
  }

  getJob(id: string): Promise<Job> {
    return this.request(`/v1/jobs/${encodeURIComponent(id)}`);
  }

  listJobs(query: ListJobsQuery = {}): Promise<JobList> {
    return this.request('/v1/jobs', { query: { ...query } });
  }

  cancelJob(id: string): Promise<Job> {
    return this.request(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST', repeatable: true });
  }

  getSubmission(id: string): Promise<Submission> {
    return this.request(`/v1/submissions/${encodeURIComponent(id)}`);
  }

  /**
   * The submission, or (with `etag` and `waitSeconds`) the submission once a job of it changed
   * status: see watch.ts.
   */
  async watchSubmission(id: string, options: WatchOptions = {}): Promise<Watched<Submission>> {
    const path = `/v1/submissions/${encodeURIComponent(id)}`;
    return watchedAnswer(await this.send(path, watchRequest(options, this.timeoutMs)), options);
  }

  /** These jobs' states (at most 100 ids), or, like watchSubmission, once one of them changed. */
  async watchJobs(ids: readonly string[], options: WatchOptions = {}): Promise<Watched<JobSummaries>> {
    const request = watchRequest(options, this.timeoutMs);
    const query = { ...request.query, ids: ids.join(',') };
    return watchedAnswer(await this.send('/v1/jobs/summaries', { ...request, query }), options);
  }

  /** A job's run logs after the cursor `after` (the `next_after` of the previous answer). */
  getLogs(jobId: string, after?: string | null): Promise<JobLogs> {
    return this.request(`/v1/jobs/${encodeURIComponent(jobId)}/logs`, { query: { after: after ?? undefined } });
  }

  /** The agents and their devices: state, current group, builds held. */
  listAgents(): Promise<AgentList> {
    return this.request('/v1/agents');
  }

  /**
   * Admin: drain (`drained` true) or enable a device (by id) or every device of an agent (by
   * id or name). A drained device finishes its running test and takes no more work.
   */
  setDrained(which: { device: string } | { agent: string }, drained: boolean): Promise<DrainResponse> {
    const path =
      'device' in which
        ? `/v1/devices/${encodeURIComponent(which.device)}`
        : `/v1/agents/${encodeURIComponent(which.agent)}`;
    return this.request(`${path}/${drained ? 'drain' : 'enable'}`, { method: 'POST', repeatable: true });
  }

  /** Agent: announce this host and its devices (idempotent by agent name). */
  registerAgent(body: RegisterRequest): Promise<RegisterResponse> {
    return this.request('/v1/agents/register', { method: 'POST', body, repeatable: true });
  }

  /** Agent: long-poll for a batch for one device; `batch` is null when none came within waitMs. */
  claim(deviceId: string, waitMs: number, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.request(`/v1/devices/${encodeURIComponent(deviceId)}/claim`, {
      method: 'POST',
      query: { wait_ms: waitMs },
      timeoutMs: waitMs + 15_000,
      signal,
    });
  }

  /** Agent: report install/start/finish events on a batch (also the lease heartbeat). */
  report(batchId: string, body: ReportRequest): Promise<ReportResponse> {
    return this.request(`/v1/batches/${encodeURIComponent(batchId)}/report`, {
      method: 'POST',
      body,
      repeatable: true,
    });
  }

  /**
   * Agent: append output to the running runs of a batch. Repeated like a report; a request
   * that timed out after the server stored it may store its chunks twice (rare, and only text).
   */
  sendLogs(batchId: string, body: LogsRequest): Promise<LogsResponse> {
    return this.request(`/v1/batches/${encodeURIComponent(batchId)}/logs`, { method: 'POST', body, repeatable: true });
  }

  /** Whether the server holds this blob for the org (a bundle or build need not be uploaded again). */
  async hasBlob(sha256: string, query: { org_id?: string; kind?: BlobKind } = {}): Promise<boolean> {
    try {
      await this.request(`/v1/blobs/${encodeURIComponent(sha256)}`, { method: 'HEAD', query });
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return false;
      throw error;
    }
  }

  /** Uploads content under its SHA-256; the server refuses it when the bytes do not match. */
  putBlob(sha256: string, bytes: Uint8Array | Blob, query: { org_id?: string; kind: BlobKind }): Promise<BlobInfo> {
    return this.request(`/v1/blobs/${encodeURIComponent(sha256)}`, {
      method: 'PUT',
      bytes,
      query,
      repeatable: true,
      timeoutMs: Math.max(this.timeoutMs, 10 * 60_000),
    });
  }

  /** The blob's bytes as a response to stream from (agents: builds and bundles of their batches). */
  downloadBlob(sha256: string, signal?: AbortSignal): Promise<Response> {
    return this.send(`/v1/blobs/${encodeURIComponent(sha256)}`, { timeoutMs: 60 * 60_000, signal });
  }

  /**
   * Agent: uploads a file the test left in its output dir (`name`, relative to it) to the
   * job's running run in this batch; the same name again replaces it. Call it before
   * reporting the run's finish: a finished run takes no more files (409).
   */
  putRunArtifact(
    batchId: string,
    jobId: string,
    name: string,
    bytes: Uint8Array,
    contentType?: string,
  ): Promise<RunArtifact & { uploaded: boolean }> {
    return this.request(`/v1/batches/${encodeURIComponent(batchId)}/artifacts`, {
      method: 'PUT',
      bytes,
      query: { job_id: jobId, name },
      headers: { 'content-type': contentType ?? 'application/octet-stream' },
      repeatable: true,
      timeoutMs: Math.max(this.timeoutMs, 10 * 60_000),
    });
  }

  /** The files each run of a job left (test artifacts). */
  listArtifacts(jobId: string): Promise<JobArtifacts> {
    return this.request(`/v1/jobs/${encodeURIComponent(jobId)}/artifacts`);
  }

  /** One file of a run, as a response to stream from (its content-type is the file's). */
  downloadArtifact(jobId: string, run: number, name: string, signal?: AbortSignal): Promise<Response> {
    const path = name.split('/').map(encodeURIComponent).join('/');
    return this.send(`/v1/jobs/${encodeURIComponent(jobId)}/runs/${run}/artifacts/${path}`, {
      timeoutMs: 60 * 60_000,
      signal,
    });
  }

  /** Registers the build of an app version: an uploaded blob (sha256) or a URL the server fetches. */
  registerApp(body: AppRegisterRequest): Promise<AppBuild> {
    return this.request('/v1/apps', { method: 'POST', body, repeatable: true, timeoutMs: 10 * 60_000 });
  }

  getApp(query: AppQuery): Promise<AppBuild> {
    return this.request('/v1/apps', { query });
  }

  /** Agent: the bs:// upload of a BrowserStack batch's build, or the lease to make it. */
  browserstackApp(batchId: string): Promise<BrowserStackAppResponse> {
    return this.request(`/v1/batches/${encodeURIComponent(batchId)}/browserstack-app`, {
      method: 'POST',
      repeatable: true,
    });
  }

  /** Agent: the outcome of the BrowserStack upload this batch held the lease for. */
  setBrowserstackApp(batchId: string, body: BrowserStackAppResult): Promise<BrowserStackAppResponse> {
    return this.request(`/v1/batches/${encodeURIComponent(batchId)}/browserstack-app`, {
      method: 'PUT',
      body,
      repeatable: true,
    });
  }

  health(): Promise<{ status: string }> {
    return this.request('/healthz');
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
