/**
 * A stand-in job-server for CLI tests: just enough of the /v1 API, in memory. Every read
 * moves each unfinished job one step (queued → running → outcome); a test whose path
 * contains `fail` fails, `error` errors, `slow` never finishes, anything else passes.
 * A job's log gets a line at each step (`start <path>`, then `<status>`), so reading its
 * logs also moves it; `agents` is what GET /v1/agents answers (404 while undefined).
 * Blobs (HEAD/PUT /v1/blobs/{sha256}) are kept by content, checked against their hash; an
 * app build registered by URL (POST /v1/apps) is "fetched" as the bytes of the URL itself,
 * and a URL containing `unreachable` fails to fetch.
 * `waitingReads` plays an older or odd server for the CLI's waiting reads (`?wait=`): by
 * default they are unknown (the param ignored, answers untagged); `tagged` sends an ETag but
 * answers at once, ignoring If-None-Match and `wait`; `reject` tags too, and answers 400 naming
 * `wait` to a read that sends it.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AgentList,
  type AppBuild,
  type AppRegisterRequest,
  type BlobKind,
  isTerminal,
  type Job,
  type JobStatus,
  type LogChunk,
  type SubmitRequest,
} from '@qgjob/protocol';

export interface FakeServer {
  url: string;
  jobs: Map<string, Job>;
  /** Idempotency keys received, in order. */
  keys: string[];
  requests: string[];
  logs: Map<string, LogChunk[]>;
  agents: AgentList | undefined;
  /** Blob bytes by SHA-256. */
  blobs: Map<string, Buffer>;
  /** Registered app builds by `org_id/app_version_id`. */
  apps: Map<string, AppBuild>;
  /** Submit bodies received, in order. */
  submits: SubmitRequest[];
  /** Job ids by submission id (a test may add its own, with jobs put into `jobs`). */
  submissions: Map<string, string[]>;
  /** How long POST /v1/jobs/{id}/cancel takes to answer; 0 by default. */
  cancelDelayMs: number;
  close(): Promise<void>;
}

function outcome(path: string): JobStatus {
  if (path.includes('fail')) return 'failed';
  if (path.includes('error')) return 'errored';
  return 'passed';
}

function advance(job: Job, now: string): void {
  if (job.status === 'queued') {
    job.status = 'running';
    job.attempts = 1;
    job.started_at = now;
    job.runs.push({
      id: `run_${job.id}_1`,
      n: 1,
      status: 'running',
      agent: 'agent-1',
      device: 'emulator-1',
      batch_id: 'batch_1',
      app_installed: true,
      started_at: now,
      finished_at: null,
      duration_ms: null,
      error: null,
      artifacts: [],
    });
  } else if (job.status === 'running' && !job.test_path.includes('slow')) {
    const status = outcome(job.test_path);
    job.status = status;
    job.finished_at = now;
    job.error = status === 'passed' ? null : `${status}: expected <Welcome> to be visible`;
    const run = job.runs[0];
    if (run) Object.assign(run, { status, finished_at: now, duration_ms: 1500, error: job.error });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBytes(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const text = (await readBytes(req)).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

export async function startFakeServer(
  options: { token?: string; waitingReads?: 'reject' | 'tagged' } = {},
): Promise<FakeServer> {
  const jobs = new Map<string, Job>();
  const submissions = new Map<string, string[]>();
  const keys: string[] = [];
  const requests: string[] = [];
  const logs = new Map<string, LogChunk[]>();
  const blobs = new Map<string, Buffer>();
  const apps = new Map<string, AppBuild>();
  const submits: SubmitRequest[] = [];
  let seq = 0;
  let tags = 0;
  /** Moves the job one step and logs the step. */
  const step = (job: Job, now: string) => {
    const before = job.status;
    advance(job, now);
    if (job.status === before) return;
    const chunks = logs.get(job.id) ?? [];
    const text = job.status === 'running' ? `start ${job.test_path}\n` : `${job.status}\n`;
    chunks.push({ run: 1, seq: chunks.length + 1, stream: 'stdout', text, at: now });
    logs.set(job.id, chunks);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      return send(res, 401, { error: { code: 'unauthorized', message: 'missing or invalid token' } });
    }
    if (options.waitingReads === 'reject' && url.searchParams.has('wait')) {
      return send(res, 400, { error: { code: 'validation_failed', message: 'unknown field wait', field: 'wait' } });
    }
    if (options.waitingReads !== undefined && req.method === 'GET') res.setHeader('etag', `W/"${++tags}"`);
    const now = new Date().toISOString();
    const notFound = () => send(res, 404, { error: { code: 'not_found', message: 'not found' } });
    const param = (method: string, pattern: RegExp): string | undefined => {
      const match = req.method === method ? pattern.exec(url.pathname) : null;
      return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
    };
    const cancelId = param('POST', /^\/v1\/jobs\/([^/]+)\/cancel$/);
    const jobId = param('GET', /^\/v1\/jobs\/([^/]+)$/);
    const submissionParam = param('GET', /^\/v1\/submissions\/([^/]+)$/);
    const logsId = param('GET', /^\/v1\/jobs\/([^/]+)\/logs$/);
    const blobSha = /^\/v1\/blobs\/([^/]+)$/.exec(url.pathname)?.[1];
    if (blobSha !== undefined && req.method === 'HEAD') {
      res.writeHead(blobs.has(blobSha) ? 200 : 404).end();
      return;
    }
    if (blobSha !== undefined && req.method === 'PUT') {
      const bytes = await readBytes(req);
      if (sha256(bytes) !== blobSha) {
        return send(res, 422, {
          error: { code: 'hash_mismatch', message: `the body's SHA-256 is ${sha256(bytes)}, not ${blobSha}` },
        });
      }
      const uploaded = !blobs.has(blobSha);
      blobs.set(blobSha, bytes);
      const kind = (url.searchParams.get('kind') ?? 'bundle') as BlobKind;
      const org_id = url.searchParams.get('org_id') ?? 'x';
      return send(res, uploaded ? 201 : 200, { sha256: blobSha, org_id, kind, size: bytes.length, uploaded });
    }
    if (url.pathname === '/v1/apps' && req.method === 'GET') {
      const app = apps.get(`${url.searchParams.get('org_id')}/${url.searchParams.get('app_version_id')}`);
      return app ? send(res, 200, { ...app, created: false }) : notFound();
    }
    if (url.pathname === '/v1/apps' && req.method === 'POST') {
      const body = (await readBody(req)) as AppRegisterRequest;
      if (body.url?.includes('unreachable')) {
        return send(res, 422, { error: { code: 'fetch_failed', message: `could not download ${body.url}: 404` } });
      }
      const sha = body.sha256 ?? sha256(body.url ?? '');
      if (body.url) blobs.set(sha, Buffer.from(body.url));
      const bytes = blobs.get(sha);
      if (!bytes) return send(res, 404, { error: { code: 'not_found', message: `no uploaded blob ${sha}` } });
      const key = `${body.org_id}/${body.app_version_id}`;
      const existing = apps.get(key);
      if (existing && existing.sha256 !== sha) {
        return send(res, 409, {
          error: {
            code: 'conflict',
            message: `app version ${body.app_version_id} already has build ${existing.sha256.slice(0, 12)}`,
          },
        });
      }
      if (existing) return send(res, 200, { ...existing, created: false });
      const app: AppBuild = {
        org_id: body.org_id,
        app_version_id: body.app_version_id,
        sha256: sha,
        size: bytes.length,
        filename: body.filename ?? body.url?.split('/').pop() ?? 'app',
        source_url: body.url ?? null,
        browserstack: [],
        created_at: now,
        created: true,
      };
      apps.set(key, app);
      return send(res, 201, app);
    }
    if (req.method === 'GET' && url.pathname === '/v1/agents') {
      return fake.agents ? send(res, 200, fake.agents) : notFound();
    }
    if (logsId !== undefined) {
      const job = jobs.get(logsId);
      if (!job) return notFound();
      step(job, now);
      const all = logs.get(job.id) ?? [];
      const after = url.searchParams.has('after') ? Number(url.searchParams.get('after')) : 0;
      const page = all.slice(after, after + 2);
      const next = after + page.length;
      return send(res, 200, {
        job_id: job.id,
        status: job.status,
        chunks: page,
        next_after: next === 0 ? null : String(next),
        done: isTerminal(job.status) && next === all.length,
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/jobs') {
      keys.push(String(req.headers['idempotency-key'] ?? ''));
      const body = (await readBody(req)) as SubmitRequest;
      submits.push(body);
      const paths = body.tests ?? [body.test_path as string];
      const submissionId = `sub_${++seq}`;
      const created = paths.map((test_path) => {
        const existing = [...jobs.values()].find(
          (j) => j.test_path === test_path && j.status === 'queued' && j.app_version_id === body.app_version_id,
        );
        if (existing) return { job: existing, deduplicated: true };
        const job: Job = {
          id: `job_${++seq}`,
          submission_id: submissionId,
          status: 'queued',
          org_id: body.org_id,
          app_version_id: body.app_version_id,
          test_path,
          target: body.target ?? 'emulator',
          priority: body.priority ?? 5,
          max_retries: body.max_retries ?? 0,
          attempts: 0,
          flaky: false,
          created_at: now,
          started_at: null,
          finished_at: null,
          error: null,
          bundle_sha256: body.bundle_sha256 ?? null,
          runs: [],
        };
        jobs.set(job.id, job);
        return { job, deduplicated: false };
      });
      submissions.set(
        submissionId,
        created.filter((c) => !c.deduplicated).map((c) => c.job.id),
      );
      return send(res, 201, {
        submission_id: submissionId,
        jobs: created.map(({ job, deduplicated }) => ({
          id: job.id,
          status: job.status,
          deduplicated,
          org_id: job.org_id,
          app_version_id: job.app_version_id,
          test_path: job.test_path,
          target: job.target,
          priority: job.priority,
        })),
      });
    }
    if (req.method === 'GET' && url.pathname === '/v1/jobs') {
      const all = [...jobs.values()].filter(
        (j) => !url.searchParams.has('status') || j.status === url.searchParams.get('status'),
      );
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const page = all.slice(start, start + limit).map(({ runs: _runs, ...summary }) => summary);
      return send(res, 200, { jobs: page, next_cursor: start + limit < all.length ? String(start + limit) : null });
    }
    if (cancelId !== undefined) {
      if (fake.cancelDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.cancelDelayMs));
      const job = jobs.get(cancelId);
      if (!job) return notFound();
      // As the job-server does: an unfinished job (queued, assigned or running) ends cancelled,
      // a cancelled one stays so, a finished one is a conflict.
      if (job.status === 'cancelled') return send(res, 200, job);
      if (isTerminal(job.status)) {
        return send(res, 409, {
          error: {
            code: 'conflict',
            message: `job ${job.id} already ${job.status}: only an unfinished job can be cancelled`,
          },
        });
      }
      for (const run of job.runs) {
        if (run.status === 'running') {
          run.status = 'cancelled';
          run.finished_at = now;
        }
      }
      job.status = 'cancelled';
      job.finished_at = now;
      return send(res, 200, job);
    }
    if (jobId !== undefined) {
      const job = jobs.get(jobId);
      if (!job) return notFound();
      step(job, now);
      return send(res, 200, job);
    }
    if (submissionParam !== undefined) {
      const id = submissionParam;
      const ids = submissions.get(id);
      if (!ids) return notFound();
      const list = ids.map((jobId) => jobs.get(jobId) as Job);
      for (const job of list) step(job, now);
      return send(res, 200, {
        id,
        org_id: list[0]?.org_id ?? 'x',
        created_at: now,
        jobs: list.map(({ runs: _runs, ...summary }) => summary),
      });
    }
    return notFound();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: { code: 'internal', message: String(error) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeServer = {
    url: `http://127.0.0.1:${port}`,
    jobs,
    keys,
    requests,
    logs,
    agents: undefined,
    blobs,
    apps,
    submits,
    submissions,
    cancelDelayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}
