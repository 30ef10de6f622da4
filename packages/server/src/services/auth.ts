/**
 * Who is calling. Three kinds of credential, all bearer tokens:
 * - admin: from the server's environment (QGJOB_ADMIN_TOKEN) or created by an admin;
 *   everything, in every org, including managing tokens.
 * - org: submit, read and cancel the jobs of one org. Several per org; revocable; may expire.
 * - agent: register devices, claim batches, report on its own batches. Nothing else.
 * A created token reads `qgjob_<id>_<secret>`: the id finds the row, and the secret's
 * SHA-256 is compared with the stored one in constant time. Secrets are shown once and
 * never stored. In open mode (local use only) every caller is trusted.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import * as tokens from '../store/tokens.js';

export type Principal =
  | { kind: 'open' }
  | { kind: 'admin'; tokenId: string }
  | { kind: 'org'; orgId: string; tokenId: string }
  | { kind: 'agent'; tokenId: string };

export interface AuthOptions {
  /** 'open': no credentials checked (local use). 'tokens': every /v1 call needs one. */
  mode: 'open' | 'tokens';
  /** An admin credential from the environment, if any. */
  adminToken?: string;
}

export interface TokenInfo {
  id: string;
  kind: tokens.TokenKind;
  org_id: string | null;
  name: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

const FORMAT = /^qgjob_(tok_[0-9a-z]{26})_([A-Za-z0-9_-]{20,})$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

function info(row: tokens.TokenRow): TokenInfo {
  return {
    id: row.id,
    kind: row.kind,
    org_id: row.org_id,
    name: row.name,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

export class AuthService {
  private readonly adminDigest: Buffer | undefined;

  constructor(
    private readonly db: Db,
    readonly options: AuthOptions,
  ) {
    this.adminDigest = options.adminToken ? sha256(options.adminToken) : undefined;
  }

  get open(): boolean {
    return this.options.mode === 'open';
  }

  /** The caller of a request, from its Authorization header. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (this.open) return { kind: 'open' };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!bearer) {
      throw new AppError(
        'unauthorized',
        'missing token: send Authorization: Bearer <token> (qgjob --token or QGJOB_TOKEN)',
      );
    }
    if (this.adminDigest && timingSafeEqual(sha256(bearer), this.adminDigest)) return { kind: 'admin', tokenId: 'env' };
    const parts = FORMAT.exec(bearer);
    const row = parts ? await tokens.getToken(this.db, parts[1] as string) : undefined;
    // Compare even when the id is unknown, so timing says nothing about which ids exist.
    const stored = row ? Buffer.from(row.secret_hash, 'hex') : sha256('');
    const matches = timingSafeEqual(sha256(parts?.[2] ?? ''), stored) && row !== undefined;
    if (!row || !matches) throw new AppError('unauthorized', 'invalid token');
    if (row.revoked_at) throw new AppError('unauthorized', 'token revoked: ask an admin for a new one');
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) {
      throw new AppError('unauthorized', 'token expired: ask an admin for a new one');
    }
    if (row.kind === 'org') return { kind: 'org', orgId: row.org_id as string, tokenId: row.id };
    return { kind: row.kind, tokenId: row.id };
  }

  /** Creates a token; the secret is in the answer, once, and nowhere else. */
  async create(t: {
    kind: tokens.TokenKind;
    orgId?: string;
    name: string;
    expiresInMs?: number;
  }): Promise<TokenInfo & { token: string }> {
    if ((t.kind === 'org') !== (t.orgId !== undefined)) {
      throw new AppError('validation_failed', 'org_id is required for an org token, and only for one', {
        field: 'org_id',
      });
    }
    const id = newId('tok');
    const secret = randomBytes(32).toString('base64url');
    const row = await tokens.insertToken(this.db, {
      id,
      kind: t.kind,
      orgId: t.orgId ?? null,
      name: t.name,
      secretHash: sha256(secret).toString('hex'),
      expiresAt: t.expiresInMs === undefined ? null : new Date(Date.now() + t.expiresInMs),
    });
    return { ...info(row), token: `qgjob_${id}_${secret}` };
  }

  /**
   * The first admin credential of a server that needs tokens: made when no admin token is
   * active and none comes from the environment. Returns its secret (once), or undefined when
   * there was no need.
   */
  async bootstrapAdmin(): Promise<(TokenInfo & { token: string }) | undefined> {
    if (this.open || this.adminDigest) return undefined;
    const id = newId('tok');
    const secret = randomBytes(32).toString('base64url');
    const row = await this.db.transaction((tx) =>
      tokens.insertFirstAdmin(tx, {
        id,
        name: 'first admin (made at start-up)',
        secretHash: sha256(secret).toString('hex'),
      }),
    );
    return row ? { ...info(row), token: `qgjob_${id}_${secret}` } : undefined;
  }

  async list(): Promise<TokenInfo[]> {
    return (await tokens.listTokens(this.db)).map(info);
  }

  async revoke(id: string): Promise<TokenInfo> {
    const row = await tokens.revokeToken(this.db, id);
    if (!row) throw new NotFoundError('token', id);
    return info(row);
  }
}

/** The org a principal may see: undefined for all (open, admin). */
export function orgScope(p: Principal): string | undefined {
  return p.kind === 'org' ? p.orgId : undefined;
}

/** The agent token a principal acts as: undefined when unrestricted (open, admin). */
export function agentScope(p: Principal): string | undefined {
  return p.kind === 'agent' ? p.tokenId : undefined;
}
