import { dirname, join, resolve } from 'node:path';
import type { ArtifactLimits } from '@qgjob/protocol';
import type { FastifyServerOptions } from 'fastify';
import { type App, buildApp, type Limits } from './app.js';
import { DirBlobStore } from './blobs/store.js';
import type { Db } from './db/db.js';
import { openDb, type StoreOptions } from './db/open.js';
import type { ArtifactOptions } from './services/artifacts.js';
import type { AuthOptions } from './services/auth.js';
import type { LongPollOptions } from './services/long-poll.js';
import type { SchedulerOptions } from './services/scheduler.js';

export interface ServerOptions extends StoreOptions {
  port?: number;
  host?: string;
  logger?: FastifyServerOptions['logger'];
  /** Use this store instead of opening one (tests); it is not closed by close(). */
  db?: Db;
  scheduler?: SchedulerOptions;
  /** How often expired leases are swept (default 5 s). */
  sweepMs?: number;
  auth?: AuthOptions;
  limits?: Partial<Limits>;
  /** Blob store directory (default: `blobs` beside the data directory, ./.qgjob/blobs; with `memory`, a scratch directory). */
  blobDir?: string;
  artifacts?: Partial<ArtifactOptions>;
  gcMs?: number;
  /** Caps on the files a run keeps (test artifacts). */
  runArtifacts?: Partial<ArtifactLimits>;
  /** Waiting reads of job states: re-check and settle times. */
  longPoll?: LongPollOptions;
  /** Where users reach this server (`--public-url`): submission pages are linked under it. */
  publicUrl?: string;
  /** How often the farm is sampled for the trends (default a minute). */
  trendIntervalMs?: number;
}

export interface RunningServer {
  url: string;
  db: Db;
  app: App;
  /** Stops taking requests, finishes those in flight, closes the store. */
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const db = options.db ?? (await openDb(options));
  const app = await buildApp({
    db,
    logger: options.logger,
    scheduler: options.scheduler,
    sweepMs: options.sweepMs,
    auth: options.auth,
    limits: options.limits,
    blobs:
      options.blobDir !== undefined || !options.memory
        ? new DirBlobStore(options.blobDir ?? join(dirname(resolve(options.dataDir ?? './.qgjob/data')), 'blobs'))
        : undefined,
    artifacts: options.artifacts,
    gcMs: options.gcMs,
    runArtifacts: options.runArtifacts,
    longPoll: options.longPoll,
    publicUrl: options.publicUrl,
    trendIntervalMs: options.trendIntervalMs,
  });
  try {
    await app.http.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  } catch (error) {
    if (!options.db) await db.close();
    throw error;
  }
  const address = app.http.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    db,
    app,
    close() {
      closed ??= (async () => {
        await app.http.close();
        if (!options.db) await db.close();
      })();
      return closed;
    },
  };
}
