/**
 * Stores for tests. Every suite that touches storage runs once per adapter: PGlite in
 * memory always, and PostgreSQL when QGJOB_TEST_DATABASE_URL is set — each test gets a
 * fresh database of its own there, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { type Db, openDb } from '@qgjob/server';
import pg from 'pg';

export interface Adapter {
  name: 'pglite' | 'postgres';
  /** A fresh, migrated, empty store. */
  open(): Promise<TestDb>;
}

export interface TestDb {
  db: Db;
  /** Connection URL for PostgreSQL (to start another process on the same database). */
  url?: string;
  drop(): Promise<void>;
}

export const postgresUrl = process.env.QGJOB_TEST_DATABASE_URL;

/**
 * Creates an empty database on a PostgreSQL server (the test one by default); returns its
 * URL and a drop function. Benchmarks use it too, with their own server.
 */
export async function createDatabase(
  adminUrl: string | undefined = postgresUrl,
  prefix = 'qgjob_t',
): Promise<{ url: string; drop(): Promise<void> }> {
  if (!adminUrl) throw new Error('QGJOB_TEST_DATABASE_URL is not set');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export const pgliteAdapter: Adapter = {
  name: 'pglite',
  async open() {
    const db = await openDb({ memory: true });
    return { db, drop: () => db.close() };
  },
};

export const postgresAdapter: Adapter = {
  name: 'postgres',
  async open() {
    const database = await createDatabase();
    const db = await openDb({ databaseUrl: database.url, poolSize: 24 });
    return {
      db,
      url: database.url,
      async drop() {
        await db.close();
        await database.drop();
      },
    };
  },
};

export const adapters: Adapter[] = postgresUrl ? [pgliteAdapter, postgresAdapter] : [pgliteAdapter];
