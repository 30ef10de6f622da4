export { type App, type AppOptions, buildApp } from './app.js';
export type { Db, Queryable, QueryResult } from './db/db.js';
export { loadMigrations, migrate } from './db/migrate.js';
export { openDb, type StoreOptions } from './db/open.js';
export { openPglite } from './db/pglite.js';
export { openPostgres } from './db/postgres.js';
export { AppError, StoreInUseError } from './errors.js';
export { type RunningServer, type ServerOptions, startServer } from './server.js';
export { QueueService } from './services/queue.js';
