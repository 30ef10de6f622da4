import pg from 'pg';
import { type Db, type Queryable, type QueryResult, withoutValues } from './db.js';

const types = {
  getTypeParser(oid: number, format?: string) {
    // int8 (count(*), sums) as a JS number: our counts stay far below 2^53.
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'PostgreSQL';
  }
}

export async function openPostgres(options: { url: string; poolSize?: number }): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 20,
    types,
    application_name: 'qgjob',
  });
  // An idle client losing its connection (PostgreSQL restarting) must not crash the process.
  pool.on('error', () => {});
  const notifications = notificationListener(options.url);

  await run(pool, 'SELECT 1');
  return {
    kind: 'postgres',
    description: `PostgreSQL at ${redact(options.url)}`,
    query: (sql, params) => run(pool, sql, params),
    async exec(sql) {
      await pool.query(sql);
    },
    transaction: (fn) => inTransaction(pool, fn),
    listen: (channel, onNotify) => notifications.listen(channel, onNotify),
    async close() {
      await notifications.close();
      await pool.end();
    },
  };
}

async function run<R>(q: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
  try {
    const result = await q.query(sql, params as unknown[]);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 } satisfies QueryResult<R>;
  } catch (error) {
    throw withoutValues(error);
  }
}

async function inTransaction<T>(pool: pg.Pool, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const tx: Queryable = {
      query: (sql, params) => run(client, sql, params),
      async exec(sql) {
        await client.query(sql);
      },
    };
    const result = await fn(tx);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** NOTIFY subscriptions over one dedicated connection, opened on the first `listen`. */
function notificationListener(url: string): Pick<Db, 'listen' | 'close'> {
  const listeners = new Map<string, Set<(payload: string) => void>>();
  let listenClient: pg.Client | undefined;
  let closing = false;

  async function connectListener(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url, types });
    client.on('notification', (msg) => {
      for (const handler of listeners.get(msg.channel) ?? []) handler(msg.payload ?? '');
    });
    client.on('error', () => {
      // Reconnect in the background; pollers keep working meanwhile.
      listenClient = undefined;
      client.end().catch(() => {});
      if (!closing) setTimeout(() => void reconnect(), 500).unref();
    });
    await client.connect();
    for (const channel of listeners.keys()) await client.query(`LISTEN "${channel}"`);
    return client;
  }
  async function reconnect(): Promise<void> {
    if (closing || listenClient) return;
    try {
      listenClient = await connectListener();
    } catch {
      if (!closing) setTimeout(() => void reconnect(), 1000).unref();
    }
  }

  return {
    async listen(channel, onNotify) {
      if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError(`bad channel name ${channel}`);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
        if (!listenClient) listenClient = await connectListener();
        else await listenClient.query(`LISTEN "${channel}"`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    /** Ends the listening connection (and stops reconnecting it); the pool is the caller's. */
    async close() {
      closing = true;
      await listenClient?.end().catch(() => {});
    },
  };
}
