/**
 * Builds the HTTP application: plugins first (OpenAPI), then error mapping, then
 * routes. Routes hold no SQL: they call services, which call the store.
 */

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type ArtifactLimits, LIMITS } from '@qgjob/protocol';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { type BlobStore, DirBlobStore } from './blobs/store.js';
import type { Db } from './db/db.js';
import { AppError } from './errors.js';
import { installAuth } from './http/auth.js';
import { clientErrorHandler, frameworkErrors, MAX_PARAM_LENGTH, RouteTable } from './http/edge.js';
import { installErrorHandler } from './http/error-handler.js';
import { validatorCompiler } from './http/validation.js';
import { agentRoutes } from './routes/agents.js';
import { artifactRoutes } from './routes/artifacts.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { logRoutes } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { runArtifactRoutes } from './routes/run-artifacts.js';
import { timelineRoutes } from './routes/timeline.js';
import { tokenRoutes } from './routes/tokens.js';
import { type ArtifactOptions, ArtifactService } from './services/artifacts.js';
import { type AuthOptions, AuthService } from './services/auth.js';
import { JobChanges } from './services/job-changes.js';
import { LogService } from './services/logs.js';
import { type LongPollOptions, LongPolls } from './services/long-poll.js';
import { Metrics } from './services/metrics.js';
import { QueueService } from './services/queue.js';
import { RateLimiter } from './services/rate-limit.js';
import { RunArtifactService } from './services/run-artifacts.js';
import { Scheduler, type SchedulerOptions } from './services/scheduler.js';
import { SubmissionPageService } from './services/submission-page.js';
import { TimelineService } from './services/timeline.js';
import { TrendService } from './services/trends.js';
import { Wakeups } from './services/wakeups.js';
import * as maintenance from './store/maintenance.js';

export interface AppOptions {
  db: Db;
  logger?: FastifyServerOptions['logger'];
  scheduler?: SchedulerOptions;
  /** How often expired leases are swept. */
  sweepMs?: number;
  /** Embedded store only: how often planner statistics are refreshed (default 30 s). */
  analyzeMs?: number;
  /** Default: open (no credentials), for local use and tests. */
  auth?: AuthOptions;
  limits?: Partial<Limits>;
  /** Where blob bytes go. Default: a scratch directory removed when the app closes. */
  blobs?: BlobStore;
  artifacts?: Partial<ArtifactOptions>;
  /** How often unused builds and blobs are collected. Default 10 minutes. */
  gcMs?: number;
  /** A blob upload sending no byte for this long is dropped. Default 2 minutes. */
  uploadIdleMs?: number;
  /** Caps on the files a run keeps (test artifacts). Default ARTIFACT_LIMITS. */
  runArtifacts?: Partial<ArtifactLimits>;
  /** Waiting reads of job states (`?wait=`): how often they re-check, how long they let changes settle. */
  longPoll?: LongPollOptions;
  /** Where users reach this server (`--public-url`): links to submission pages use it. */
  publicUrl?: string;
  /** How often the farm is sampled for the trends. Default a minute. */
  trendIntervalMs?: number;
}

export interface Limits {
  /** Submits per second per org (tokens mode), with bursts of twice that. */
  submitsPerSecond: number;
  /** Other requests per second per org (tokens mode), with bursts of twice that. */
  readsPerSecond: number;
  maxQueuedPerOrg: number;
}

export const DEFAULT_LIMITS: Limits = { submitsPerSecond: 20, readsPerSecond: 100, maxQueuedPerOrg: 50_000 };

export interface App {
  http: FastifyInstance;
  auth: AuthService;
  queue: QueueService;
  scheduler: Scheduler;
  metrics: Metrics;
  artifacts: ArtifactService;
  runArtifacts: RunArtifactService;
  /** Who waits for which job's status to change. */
  changes: JobChanges;
}

export const VERSION = '0.1.0';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export async function buildApp(options: AppOptions): Promise<App> {
  const http = await createHttp(options);
  const services = await startServices(options, http);
  // Closing: long-polls answer "no batch" at once instead of holding the shutdown.
  const shutdown = new AbortController();
  keepUp(options, http, services, shutdown);
  await registerRoutes(http, options, services, shutdown.signal);
  const { auth, queue, scheduler, metrics, artifacts, runArtifacts, changes } = services;
  return { http, auth, queue, scheduler, metrics, artifacts, runArtifacts, changes };
}

/** Fastify with the edge rules: limits, UTF-8 JSON only, validation, error mapping, OpenAPI. */
async function createHttp(options: AppOptions): Promise<FastifyInstance> {
  const http = Fastify({
    logger: options.logger ?? false,
    bodyLimit: LIMITS.bodyLimitBytes,
    // One log line per request costs more than the request at thousands a second.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { strict: false } },
    // Ids are validated by their route's schema (a 400 naming the field), not cut off here.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
  });
  const routes = new RouteTable();
  routes.install(http);
  acceptUtf8Json(http);
  http.setValidatorCompiler(validatorCompiler);
  installErrorHandler(http, routes);
  await registerOpenApi(http);
  return http;
}

/**
 * JSON only: any other body type is a 415 naming content-type, not a confusing 400. JSON
 * bodies must be UTF-8: bytes that are not are refused, not silently turned into U+FFFD.
 */
function acceptUtf8Json(http: FastifyInstance): void {
  http.removeContentTypeParser('text/plain');
  const parseJson = http.getDefaultJsonParser('error', 'error');
  http.removeContentTypeParser('application/json');
  http.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = UTF8.decode(body as Buffer);
    } catch {
      done(
        new AppError('invalid_json', 'request body is not valid UTF-8: send JSON encoded as UTF-8', { field: 'body' }),
        undefined,
      );
      return;
    }
    parseJson(request, text, done);
  });
}

async function registerOpenApi(http: FastifyInstance): Promise<void> {
  await http.register(swagger, {
    openapi: {
      info: {
        title: 'qgjob job-server',
        version: VERSION,
        description: 'Queue, group and run AppWright tests on emulators, devices and BrowserStack.',
      },
      tags: [
        { name: 'jobs' },
        { name: 'submissions' },
        { name: 'agents' },
        { name: 'blobs' },
        { name: 'apps' },
        { name: 'tokens' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An org, agent or admin token.' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await http.register(swaggerUi, { routePrefix: '/docs' });
}

interface Services {
  metrics: Metrics;
  wakeups: Wakeups;
  changes: JobChanges;
  auth: AuthService;
  blobs: BlobStore;
  artifacts: ArtifactService;
  runArtifacts: RunArtifactService;
  queue: QueueService;
  logs: LogService;
  scheduler: Scheduler;
  trends: TrendService;
}

/** The services over the store, with the listeners that wake long-polls started. */
async function startServices(options: AppOptions, http: FastifyInstance): Promise<Services> {
  const metrics = new Metrics(options.db);
  const wakeups = new Wakeups(options.db);
  await wakeups.start();
  const changes = new JobChanges(options.db);
  await changes.start();
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const auth = new AuthService(options.db, options.auth ?? { mode: 'open' });
  installAuth(http, auth, {
    submits: new RateLimiter(limits.submitsPerSecond, limits.submitsPerSecond * 2),
    reads: new RateLimiter(limits.readsPerSecond, limits.readsPerSecond * 2),
  });
  const blobs = options.blobs ?? new DirBlobStore(await mkdtemp(join(tmpdir(), 'qgjob-blobs-')), true);
  // Open mode is local use: a build URL on this machine or network is what the user means.
  const artifactOptions = { fetchInternalUrls: (options.auth?.mode ?? 'open') === 'open', ...options.artifacts };
  const artifacts = new ArtifactService(options.db, blobs, metrics, artifactOptions, http.log);
  const runArtifacts = new RunArtifactService(options.db, artifacts, options.runArtifacts, http.log);
  const queue = new QueueService(options.db, metrics, wakeups, limits.maxQueuedPerOrg, artifacts, changes);
  const logs = new LogService(options.db);
  const scheduler = new Scheduler(options.db, wakeups, metrics, {
    log: http.log,
    artifacts,
    logs,
    changes,
    ...options.scheduler,
  });
  const trends = new TrendService(options.db, options.trendIntervalMs, http.log);
  return { metrics, wakeups, changes, auth, blobs, artifacts, runArtifacts, queue, logs, scheduler, trends };
}

/** The timers that keep the farm tidy (lease sweep, trends, upkeep, blob collection), stopped on close. */
function keepUp(options: AppOptions, http: FastifyInstance, services: Services, shutdown: AbortController): void {
  const { scheduler, trends, artifacts, wakeups, changes, blobs } = services;
  const reaper = setInterval(() => {
    scheduler.reapExpired().catch((error) => http.log.warn({ err: error }, 'lease sweep failed'));
  }, options.sweepMs ?? 5_000);
  reaper.unref();
  trends.start();
  const upkeep =
    options.db.kind === 'pglite' ? embeddedUpkeep(options.db, http.log, options.analyzeMs ?? ANALYZE_MS) : undefined;
  const collector = setInterval(
    () => {
      artifacts.collectGarbage().catch((error) => http.log.warn({ err: error }, 'blob collection failed'));
    },
    options.gcMs ?? 10 * 60_000,
  );
  collector.unref();
  http.addHook('preClose', async () => {
    clearInterval(reaper);
    upkeep?.stop();
    clearInterval(collector);
    await trends.stop();
    shutdown.abort();
    await wakeups.stop();
    await changes.stop();
  });
  http.addHook('onClose', async () => {
    await blobs.close();
  });
}

async function registerRoutes(
  http: FastifyInstance,
  options: AppOptions,
  services: Services,
  shutdown: AbortSignal,
): Promise<void> {
  const { queue, changes, logs, scheduler, auth, metrics, trends, artifacts, runArtifacts } = services;
  healthRoutes(http, options.db);
  jobRoutes(http, queue, new LongPolls(changes, options.longPoll), shutdown, options.publicUrl);
  logRoutes(http, logs);
  agentRoutes(http, scheduler, shutdown);
  dashboardRoutes(http, options.db, auth, shutdown);
  timelineRoutes(http, {
    timeline: new TimelineService(options.db),
    trends,
    submissions: new SubmissionPageService(options.db, options.publicUrl),
  });
  metricsRoutes(http, metrics);
  tokenRoutes(http, auth);
  await artifactRoutes(http, artifacts, options.uploadIdleMs);
  await runArtifactRoutes(http, runArtifacts, options.uploadIdleMs);
}

/** How often the embedded store's statistics are refreshed, and its dead rows reclaimed. */
const ANALYZE_MS = 30_000;
const VACUUM_MS = 10 * 60_000;

/** PGlite runs no autovacuum: the server does its part (see store/maintenance.ts). */
function embeddedUpkeep(
  db: Db,
  log: { warn(fields: object, message: string): void },
  analyzeMs: number,
): { stop(): void } {
  const run = (what: string, step: (q: Db) => Promise<void>) => () => {
    step(db).catch((error) => log.warn({ err: error }, `embedded store ${what} failed`));
  };
  const analyze = setInterval(run('ANALYZE', maintenance.analyzeHotTables), analyzeMs);
  const vacuum = setInterval(run('VACUUM', maintenance.vacuumHotTables), VACUUM_MS);
  analyze.unref();
  vacuum.unref();
  return {
    stop() {
      clearInterval(analyze);
      clearInterval(vacuum);
    },
  };
}
