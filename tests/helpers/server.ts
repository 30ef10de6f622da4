import { type RunningServer, type SchedulerOptions, startServer } from '@qgjob/server';
import { type Adapter, pgliteAdapter, type TestDb } from './db.js';

export interface TestServer extends RunningServer {
  store: TestDb;
}

/** A job-server on a free loopback port over a fresh store; close() drops the store too. With adminToken, tokens are required. */
export async function startTestServer(
  options: { adapter?: Adapter; scheduler?: SchedulerOptions; sweepMs?: number; adminToken?: string } = {},
): Promise<TestServer> {
  const store = await (options.adapter ?? pgliteAdapter).open();
  const server = await startServer({
    db: store.db,
    port: 0,
    host: '127.0.0.1',
    scheduler: options.scheduler,
    sweepMs: options.sweepMs,
    ...(options.adminToken ? { auth: { mode: 'tokens' as const, adminToken: options.adminToken } } : {}),
  });
  return {
    ...server,
    store,
    async close() {
      await server.close();
      await store.drop();
    },
  };
}
