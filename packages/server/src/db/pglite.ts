import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { StoreInUseError } from '../errors.js';
import { type Db, type Queryable, type QueryResult, withoutValues } from './db.js';

function toResult<R>(result: { rows: unknown[]; affectedRows?: number }): QueryResult<R> {
  return { rows: result.rows as R[], rowCount: result.affectedRows ?? result.rows.length };
}

/**
 * PGlite holds its data directory exclusively: two processes on one directory corrupt it.
 * A pid file beside the directory makes a second server fail with a clear message instead.
 */
function lockDataDir(dataDir: string): () => void {
  const lockFile = `${dataDir}.pid`;
  mkdirSync(dirname(lockFile), { recursive: true });
  try {
    const pid = Number(readFileSync(lockFile, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) throw new StoreInUseError(dataDir, pid);
  } catch (error) {
    if (error instanceof StoreInUseError) throw error;
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A killed process not yet reaped by its parent still answers kill(0): a zombie holds nothing.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export async function openPglite(options: { dataDir?: string }): Promise<Db> {
  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  const unlock = dataDir ? lockDataDir(dataDir) : () => {};
  let pg: PGlite;
  try {
    pg = await PGlite.create(dataDir ? { dataDir } : {});
  } catch (error) {
    unlock();
    throw error;
  }
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      try {
        return toResult<R>(await q.query(sql, params as unknown[]));
      } catch (error) {
        throw withoutValues(error);
      }
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    description: dataDir ? `PGlite at ${dataDir}` : 'PGlite in memory (nothing is kept)',
    query: base.query,
    exec: base.exec,
    transaction: (fn) => pg.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      const unsubscribe = await pg.listen(channel, onNotify);
      return async () => {
        await unsubscribe();
      };
    },
    async close() {
      try {
        await pg.close();
      } finally {
        unlock();
      }
    },
  };
}
