import type { Db } from './db.js';
import { migrate } from './migrate.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

export interface StoreOptions {
  /** postgres://… — several job-servers may share it. */
  databaseUrl?: string;
  /** PGlite data directory (default ./.qgjob/data). */
  dataDir?: string;
  /** PGlite in memory: nothing is kept. */
  memory?: boolean;
  poolSize?: number;
}

/** Opens the configured store and brings its schema up to date. */
export async function openDb(options: StoreOptions): Promise<Db> {
  const db = options.databaseUrl
    ? await openPostgres({ url: options.databaseUrl, poolSize: options.poolSize })
    : await openPglite({ dataDir: options.memory ? undefined : (options.dataDir ?? './.qgjob/data') });
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
