/**
 * Typed HTTP client for job-server's /v1 API. The CLI and the agent talk to the
 * server only through this class; neither ever holds database credentials. Failover
 * between server URLs and retries are the transport's (transport.ts).
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
import { ApiError } from './errors.js';
import { Transport } from './transport.js';
import { type Watched, type WatchOptions, watchedAnswer, watchRequest } from './watch.js';

export class QgjobClient extends Transport {
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
