/**
 * The live dashboard: the page at `/`, a page per submission at `/submissions/{id}`, their
 * assets under `/dashboard/`, and the API the farm page reads: `GET /v1/overview`,
 * `GET /v1/agents`, and `GET /v1/events`, a Server-Sent Events stream of the overview (the
 * timeline, trends and submission API is routes/timeline.ts).
 *
 * A stream checks the overview every second and sends it (event `overview`) when it differs
 * from the last one sent, the first at once; a comment line every 15 s otherwise keeps
 * proxies from closing it. It ends when the client goes, the server closes, or the token it
 * was opened with is revoked or expires (checked every 30 s). The streams of one scope (all
 * orgs, or one org) share their reads of the overview (OverviewService.sharedOverview).
 *
 * The page reads the stream with fetch, not EventSource, so a token travels in the
 * Authorization header and never in a URL (where access logs and browser history keep it).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AgentList, Overview, Type } from '@qgjob/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/db.js';
import { allow } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import { type AuthService, orgScope, type Principal } from '../services/auth.js';
import { OverviewService } from '../services/overview.js';

const errors = errorResponses(401, 403, 429);
/** How event streams pace themselves (tests shorten these). */
export const STREAM_TIMING = {
  /** The overview is read this often. */
  tickMs: 1_000,
  /** A comment line after this long without an event. */
  heartbeatMs: 15_000,
  /** The stream's token is checked again this often: revoked or expired, the stream ends. */
  reauthMs: 30_000,
};

/** The page may load its own script and style and call this server; nothing else. */
export const DASHBOARD_CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'panel.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'trends.js': 'text/javascript; charset=utf-8',
  'views.js': 'text/javascript; charset=utf-8',
  'submission.html': 'text/html; charset=utf-8',
  'submission.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'views.css': 'text/css; charset=utf-8',
};

/**
 * The assets stay in src/dashboard (tsc copies no .html, .js or .css): next to this file's
 * folder when running from the sources, and two levels up from dist/routes when built.
 */
function loadAssets(): Map<string, Asset> {
  const dirs = [new URL('../dashboard/', import.meta.url), new URL('../../src/dashboard/', import.meta.url)];
  const dir = dirs.find((d) => existsSync(new URL('index.html', d)));
  const assets = new Map<string, Asset>();
  if (!dir) return assets;
  for (const [name, type] of Object.entries(ASSETS)) {
    const body = readFileSync(fileURLToPath(new URL(name, dir)));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return assets;
}

export function dashboardRoutes(app: FastifyInstance, db: Db, auth: AuthService, shutdown: AbortSignal): void {
  const overview = new OverviewService(db);
  pageRoutes(app, loadAssets());
  overviewRoutes(app, overview);
  eventRoute(app, overview, auth, shutdown);
}

/** The pages and their assets, each with an ETag and the dashboard's own content policy. */
function pageRoutes(app: FastifyInstance, assets: Map<string, Asset>): void {
  const serve = (name: string, request: FastifyRequest, reply: FastifyReply) => {
    const asset = assets.get(name);
    if (!asset) {
      return reply.status(404).send({ error: { code: 'not_found', message: `no dashboard asset ${name}` } });
    }
    reply.header('etag', asset.etag);
    if (request.headers['if-none-match'] === asset.etag) return reply.status(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  // After the global onSend (which forbids everything on API answers): the page's own policy.
  const page = {
    schema: { hide: true },
    onSend: async (_request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      reply.header('content-security-policy', DASHBOARD_CSP);
      reply.header('cache-control', 'no-cache');
      return payload;
    },
  };
  app.get('/', page, (request, reply) => serve('index.html', request, reply));
  // A submission's page: the page reads the id from its address and asks the API for the rest.
  app.get('/submissions/:id', page, (request, reply) => serve('submission.html', request, reply));
  app.get<{ Params: { file: string } }>('/dashboard/:file', page, (request, reply) =>
    serve(request.params.file, request, reply),
  );
}

function overviewRoutes(app: FastifyInstance, overview: OverviewService): void {
  app.get(
    '/v1/overview',
    {
      schema: {
        summary: 'The farm now: queue per group, agents and devices, the last 50 runs, installs, totals',
        tags: ['farm'],
        response: { 200: Overview, ...errors },
      },
    },
    (request) => overview.overview(orgScope(allow(request, 'org', 'admin'))),
  );

  app.get(
    '/v1/agents',
    {
      schema: {
        summary: 'Agents and their devices: state, current batch, builds installed',
        tags: ['farm'],
        response: { 200: AgentList, ...errors },
      },
    },
    (request) => overview.agents(orgScope(allow(request, 'org', 'admin'))),
  );
}

function eventRoute(app: FastifyInstance, overview: OverviewService, auth: AuthService, shutdown: AbortSignal): void {
  app.get(
    '/v1/events',
    {
      schema: {
        summary:
          'Server-Sent Events: `overview` with the overview at once, then whenever it changes (checked each second)',
        tags: ['farm'],
        response: {
          200: {
            description: 'text/event-stream: `event: overview` lines with the Overview as data',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const principal = allow(request, 'org', 'admin');
      reply.hijack();
      const res = reply.raw;
      // Hijacked: the onSend hooks do not run, so the headers they add are set here.
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        // Proxies such as nginx would otherwise hold events back in a buffer.
        'x-accel-buffering': 'no',
      });
      const stop = new AbortController();
      const end = () => stop.abort();
      res.once('close', end);
      shutdown.addEventListener('abort', end, { once: true });
      if (shutdown.aborted) end();
      try {
        await streamOverview(res, stop.signal, {
          read: () => overview.sharedOverview(orgScope(principal)),
          allowed: () => stillAllowed(auth, request, principal),
          log: request.log,
        });
      } finally {
        shutdown.removeEventListener('abort', end);
        res.off('close', end);
        res.end();
      }
    },
  );
}

interface OverviewSource {
  read(): Promise<unknown>;
  /** Whether the stream's token still lets it read. */
  allowed(): Promise<boolean>;
  log: { warn(fields: object, message: string): void };
}

/** Writes the overview whenever it changes, a heartbeat otherwise, until stopped or no longer allowed. */
async function streamOverview(res: ServerResponse, stop: AbortSignal, source: OverviewSource): Promise<void> {
  res.write('retry: 2000\n\n');
  let last = '';
  let lastWrite = Date.now();
  let checked = Date.now();
  let failing = false;
  while (!stop.aborted) {
    if (Date.now() - checked >= STREAM_TIMING.reauthMs) {
      checked = Date.now();
      if (!(await source.allowed())) break;
    }
    try {
      const json = JSON.stringify(await source.read());
      failing = false;
      // A reader that cannot keep up gets the newest state once it drains, not a backlog.
      const ready = !stop.aborted && !res.writableNeedDrain;
      if (ready && json !== last) {
        res.write(`event: overview\ndata: ${json}\n\n`);
        last = json;
        lastWrite = Date.now();
      } else if (ready && Date.now() - lastWrite >= STREAM_TIMING.heartbeatMs) {
        res.write(': heartbeat\n\n');
        lastWrite = Date.now();
      }
    } catch (error) {
      // Once per outage, not once a second; the stream stays open and tries again.
      if (!failing) source.log.warn({ err: error }, 'overview for the event stream failed');
      failing = true;
    }
    await pause(STREAM_TIMING.tickMs, stop);
  }
}

/** The stream's caller is still who it was: its token not revoked nor expired since. */
async function stillAllowed(auth: AuthService, request: FastifyRequest, was: Principal): Promise<boolean> {
  try {
    const now = await auth.authenticate(request.headers.authorization);
    return now.kind === was.kind && orgScope(now) === orgScope(was);
  } catch {
    return false;
  }
}

/** Resolves after `ms`, or early when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {});
}
