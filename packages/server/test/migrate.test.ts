import { buildApp, loadMigrations, migrate, openDb, openPostgres } from '@qgjob/server';
import { describe, expect, it } from 'vitest';
import { createDatabase, postgresUrl } from '../../../tests/helpers/db.js';

describe('migrations', () => {
  it('are numbered, unique and in order', () => {
    const versions = loadMigrations().map((m) => m.version);
    expect(versions.length).toBeGreaterThan(0);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it.skipIf(!postgresUrl)('apply once when several replicas start together', async () => {
    const database = await createDatabase();
    const dbs = await Promise.all(Array.from({ length: 4 }, () => openPostgres({ url: database.url, poolSize: 2 })));
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db)));
      const all = applied.flat();
      expect(all.sort((a, b) => a - b)).toEqual(loadMigrations().map((m) => m.version));
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      expect(await migrate(dbs[0] as (typeof dbs)[0])).toEqual([]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
      await database.drop();
    }
  });
});

describe('the embedded store upkeep', () => {
  it('refreshes the planner statistics of the hot tables, as autovacuum would on PostgreSQL', async () => {
    const db = await openDb({ memory: true });
    const app = await buildApp({ db, analyzeMs: 50 });
    try {
      await app.queue.submit({
        org_id: 'acme',
        app_version_id: 'v1',
        tests: Array.from({ length: 500 }, (_, i) => `t/${i}.js`),
      });
      const estimate = async () =>
        (await db.query<{ n: number }>(`SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'jobs'`)).rows[0]
          ?.n ?? -1;
      const deadline = Date.now() + 10_000;
      while ((await estimate()) < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await estimate()).toBe(500);
    } finally {
      await app.http.close();
    }
  });
});
