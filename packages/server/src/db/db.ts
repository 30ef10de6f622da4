/**
 * The one storage seam. The server runs the same SQL on two engines:
 * PGlite (embedded, one connection, zero set-up) and PostgreSQL (a pool, several
 * job-servers sharing it). Everything above this file sees only these interfaces.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** A short description for logs, never containing credentials. */
  readonly description: string;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Subscribes to NOTIFY on `channel`; resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * A database error as it may be logged: its code, message and statement, never the values it
 * was run with. PGlite attaches the parameters to its errors; PostgreSQL's `detail` and
 * `where` can quote row values (`Key (secret_hash)=(…) already exists`).
 */
export function withoutValues(error: unknown): unknown {
  if (error === null || typeof error !== 'object') return error;
  for (const key of ['params', 'parameters', 'detail', 'where', 'internalQuery']) {
    if (key in error) delete (error as Record<string, unknown>)[key];
  }
  return error;
}
