/** SQL for credentials. Secrets are never stored, only their SHA-256. */
import type { Queryable } from '../db/db.js';

export type TokenKind = 'admin' | 'org' | 'agent';

export interface TokenRow {
  id: string;
  kind: TokenKind;
  org_id: string | null;
  name: string;
  secret_hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, kind, org_id, name, secret_hash, created_at, expires_at, revoked_at';

export async function insertToken(
  q: Queryable,
  t: { id: string; kind: TokenKind; orgId: string | null; name: string; secretHash: string; expiresAt: Date | null },
): Promise<TokenRow> {
  const { rows } = await q.query<TokenRow>(
    `INSERT INTO tokens (id, kind, org_id, name, secret_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING ${COLUMNS}`,
    [t.id, t.kind, t.orgId, t.name, t.secretHash, t.expiresAt],
  );
  return rows[0] as TokenRow;
}

/**
 * Inserts the bootstrap admin token unless an admin token is already active, under a
 * transaction-level advisory lock, so replicas starting together make one. Returns the row
 * made, or undefined when an admin token already existed.
 */
export async function insertFirstAdmin(
  q: Queryable,
  t: { id: string; name: string; secretHash: string },
): Promise<TokenRow | undefined> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('qgjob:first-admin'))`);
  const { rows } = await q.query<TokenRow>(
    `INSERT INTO tokens (id, kind, org_id, name, secret_hash)
     SELECT $1, 'admin', NULL, $2, $3
      WHERE NOT EXISTS (SELECT 1 FROM tokens WHERE kind = 'admin' AND revoked_at IS NULL
                          AND (expires_at IS NULL OR expires_at > now()))
     RETURNING ${COLUMNS}`,
    [t.id, t.name, t.secretHash],
  );
  return rows[0];
}

export async function getToken(q: Queryable, id: string): Promise<TokenRow | undefined> {
  const { rows } = await q.query<TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE id = $1`, [id]);
  return rows[0];
}

export async function listTokens(q: Queryable): Promise<TokenRow[]> {
  const { rows } = await q.query<TokenRow>(`SELECT ${COLUMNS} FROM tokens ORDER BY id`);
  return rows;
}

export async function revokeToken(q: Queryable, id: string): Promise<TokenRow | undefined> {
  const { rows } = await q.query<TokenRow>(
    `UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
    [id],
  );
  return rows[0];
}
