/**
 * A tiny stand-in for job-server's agent endpoints (node:http): records every request and
 * answers through handlers a test supplies, so reporter, runner and agent tests control
 * exactly what the server says and when.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QgjobClient } from '@qgjob/client';
import type { Batch, LogsRequest, RegisterRequest, ReportRequest } from '@qgjob/protocol';
import { type BatchRunnerOptions, type BatchSummary, runBatch } from '../src/batch-runner.js';
import type { Executor } from '../src/executors/types.js';
import { silentLogger } from '../src/log.js';

export interface Reply {
  status?: number;
  body: unknown;
}
type Handler<A extends unknown[]> = (...args: A) => Reply | Promise<Reply>;

export interface StubHandlers {
  register?: Handler<[RegisterRequest]>;
  claim?: Handler<[deviceId: string, waitMs: number]>;
  report?: Handler<[batchId: string, body: ReportRequest, n: number]>;
  logs?: Handler<[batchId: string, body: LogsRequest, n: number]>;
}

export interface Stub {
  url: string;
  registers: RegisterRequest[];
  claims: string[];
  reports: Array<{ batchId: string; body: ReportRequest }>;
  logs: Array<{ batchId: string; body: LogsRequest }>;
  /** Every report and logs request, in the order they arrived. */
  order: Array<{ kind: 'report'; body: ReportRequest } | { kind: 'logs'; body: LogsRequest }>;
  close(): Promise<void>;
}

export const okReport = (extra: Partial<{ yield: boolean; cancelled: string[] }> = {}): Reply => ({
  body: { yield: false, cancelled: [], lease_expires_at: new Date(Date.now() + 60_000).toISOString(), ...extra },
});

export function batchOf(id: string, jobs: string[], extra: Partial<Batch> = {}): Batch {
  return {
    id,
    device_id: 'd1',
    org_id: 'org1',
    app_version_id: 'v1',
    target: 'emulator',
    install: false,
    lease_expires_at: new Date(Date.now() + 60_000).toISOString(),
    jobs: jobs.map((path, i) => ({ id: `j${i + 1}`, test_path: path, priority: 5, attempt: 1 })),
    ...extra,
  };
}

export async function startStub(handlers: StubHandlers = {}): Promise<Stub> {
  const stub: Omit<Stub, 'url' | 'close'> = { registers: [], claims: [], reports: [], logs: [], order: [] };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const body = await readJson(req);
    let reply: Reply = { status: 404, body: { error: { code: 'not_found', message: 'no such route' } } };
    const claim = /^\/v1\/devices\/([^/]+)\/claim$/.exec(url.pathname);
    const report = /^\/v1\/batches\/([^/]+)\/report$/.exec(url.pathname);
    const logs = /^\/v1\/batches\/([^/]+)\/logs$/.exec(url.pathname);
    if (url.pathname === '/v1/agents/register') {
      const request = body as RegisterRequest;
      stub.registers.push(request);
      reply = handlers.register
        ? await handlers.register(request)
        : {
            body: {
              agent_id: 'a1',
              devices: request.devices.map((d, i) => ({ id: `d${i + 1}`, ...d })),
              heartbeat_ms: 1000,
              lease_ms: 5000,
            },
          };
    } else if (claim) {
      const deviceId = decodeURIComponent(claim[1] as string);
      const waitMs = Number(url.searchParams.get('wait_ms') ?? 0);
      stub.claims.push(deviceId);
      reply = handlers.claim
        ? await handlers.claim(deviceId, waitMs)
        : await new Promise((r) => setTimeout(() => r({ body: { batch: null } }), Math.min(waitMs, 100)));
    } else if (report) {
      const batchId = decodeURIComponent(report[1] as string);
      const request = body as ReportRequest;
      stub.reports.push({ batchId, body: request });
      stub.order.push({ kind: 'report', body: request });
      reply = handlers.report ? await handlers.report(batchId, request, stub.reports.length) : okReport();
    } else if (logs) {
      const batchId = decodeURIComponent(logs[1] as string);
      const request = body as LogsRequest;
      stub.logs.push({ batchId, body: request });
      stub.order.push({ kind: 'logs', body: request });
      reply = handlers.logs
        ? await handlers.logs(batchId, request, stub.logs.length)
        : { body: { accepted: request.chunks.length, truncated: [] } };
    }
    if (res.destroyed) return;
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : undefined;
}

/** The job ids of every event of `type` the stub received, in order. */
export function eventsOf(
  stub: Stub,
  type: 'install' | 'unavailable' | 'start' | 'finish',
): Array<Record<string, unknown>> {
  return stub.reports.flatMap((r) => r.body.events.filter((e) => e.type === type)) as Array<Record<string, unknown>>;
}

/** The chunks the stub received for `jobId` (in logs requests or carried by reports), in order, as [stream, text]. */
export function logTextOf(stub: Stub, jobId: string): Array<[string, string]> {
  return stub.order.flatMap((r) =>
    (r.kind === 'logs' ? r.body.chunks : (r.body.logs ?? []))
      .filter((c) => c.job_id === jobId)
      .map((c): [string, string] => [c.stream, c.text]),
  );
}

/** Runs a batch on an emulator slot the way an agent does, reporting to `stub`. */
export function runBatchOn(
  stub: Stub,
  batch: Batch,
  executor: Executor,
  extra: Partial<BatchRunnerOptions> = {},
): Promise<BatchSummary> {
  return runBatch(batch, {
    client: new QgjobClient({ server: stub.url }),
    executor,
    device: { target: 'emulator', name: 'emulator-5554' },
    appPath: () => '/builds/v1.apk',
    heartbeatMs: 1000,
    leaseMs: 5000,
    log: silentLogger,
    ...extra,
  });
}
