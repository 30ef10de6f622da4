/**
 * `qgjob token create | list | revoke` (admin): the API tokens of a job-server in tokens
 * mode. `create` prints the secret once, on stdout (a note on stderr says it is shown only
 * once); `list` never shows secrets; `revoke` ends a token at once.
 */
import { ApiError } from '@qgjob/client';
import { createContext, type GlobalOptions } from '../../context.js';
import { durationFlag } from '../../duration.js';
import { UnsupportedError, UsageError } from '../../errors.js';
import { forbidden } from '../../exit.js';
import { parseChoice } from '../../flags.js';
import { formatTime, printJson, type Style, table } from '../../output.js';
import type { TokenCreateOptions, TokenRevokeOptions } from './definition.js';

export const TOKEN_KINDS = ['org', 'agent', 'admin'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** A token as `GET /v1/tokens` lists it: never its secret. */
export interface TokenInfo {
  id: string;
  kind: TokenKind;
  org_id: string | null;
  name: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

/** `POST /v1/tokens`: the token and, this once, its secret. */
export interface CreatedToken extends TokenInfo {
  token: string;
}

/** What the server accepts for expires_in_s: a minute to ten years. */
const EXPIRES_MIN_S = 60;
const EXPIRES_MAX_S = 10 * 365 * 86_400;
const NAME_MAX = 100;
const ORG_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const given = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** The body of `POST /v1/tokens`, checked as the server would; errors name the flag. */
export function createRequest(options: TokenCreateOptions): {
  kind: TokenKind;
  org_id?: string;
  name: string;
  expires_in_s?: number;
} {
  const help = "see 'qgjob token create --help'";
  const problems: string[] = [];
  const kindText = given(options.kind);
  const name = given(options.name);
  const orgId = given(options.orgId);
  if (kindText === undefined) problems.push('--kind is required');
  if (name === undefined) problems.push('--name is required');
  if (problems.length > 0) throw new UsageError(problems.join('; '), { hint: help });
  const kind = parseChoice('--kind', kindText as string, TOKEN_KINDS);
  if (kind === 'org' && orgId === undefined) {
    throw new UsageError('--org-id is required with --kind=org: an org token reaches one org only', { hint: help });
  }
  if (kind !== 'org' && orgId !== undefined) {
    throw new UsageError(`--org-id goes with --kind=org only (an ${kind} token is not bound to an org)`, {
      hint: help,
    });
  }
  if (orgId !== undefined && !ORG_ID.test(orgId)) {
    throw new UsageError(
      `--org-id must be lowercase letters, digits, _ and -, at most 64 (got ${JSON.stringify(orgId)})`,
      {
        hint: help,
      },
    );
  }
  if ((name as string).length > NAME_MAX) {
    throw new UsageError(`--name must be at most ${NAME_MAX} characters (got ${(name as string).length})`);
  }
  const body: { kind: TokenKind; org_id?: string; name: string; expires_in_s?: number } = {
    kind,
    name: name as string,
  };
  if (orgId !== undefined) body.org_id = orgId;
  const expires = given(options.expires);
  if (expires !== undefined) {
    const seconds = Math.round(durationFlag('--expires', expires) / 1000);
    if (seconds < EXPIRES_MIN_S || seconds > EXPIRES_MAX_S) {
      throw new UsageError(`--expires must be from 1m to 3650d (got ${JSON.stringify(expires)})`, { hint: help });
    }
    body.expires_in_s = seconds;
  }
  return body;
}

/** 403: not an admin token; 404 `no route`: a server without tokens (an older one). */
function explain(error: unknown, what: string, id?: string): never {
  if (error instanceof ApiError) {
    if (error.status === 403) {
      throw forbidden(
        error,
        `${what} needs an admin token: set --token or QGJOB_TOKEN to one (QGJOB_ADMIN_TOKEN of the server, or a token made with 'qgjob token create --kind=admin')`,
      );
    }
    if (error.status === 404 && /^no route /.test(error.message)) {
      throw new UnsupportedError(`the qgjob server at ${error.url} does not manage tokens (${error.message})`, {
        cause: error,
        hint: 'upgrade job-server',
      });
    }
    if (error.status === 404 && id !== undefined) {
      throw new UsageError(`no token with id ${id}`, { cause: error, hint: "list tokens with 'qgjob token list'" });
    }
  }
  throw error;
}

function orgOf(token: TokenInfo): string {
  return token.org_id ?? '-';
}

/** `org token tok_123 "github-ci" for org qualgent, expires 2025-06-01 12:00:00Z` (without the expiry when `expiry` is false). */
export function describeToken(token: TokenInfo, expiry = true): string {
  const org = token.org_id ? ` for org ${token.org_id}` : '';
  const expires = token.expires_at ? `expires ${formatTime(token.expires_at)}` : 'never expires';
  return `${token.kind} token ${token.id} ${JSON.stringify(token.name)}${org}${expiry ? `, ${expires}` : ''}`;
}

export function tokensTable(tokens: readonly TokenInfo[], style: Style): string {
  const rows = tokens.map((t) => [
    t.id,
    t.kind,
    orgOf(t),
    t.name,
    formatTime(t.created_at),
    formatTime(t.expires_at),
    t.revoked_at ? style.yellow(formatTime(t.revoked_at)) : '-',
  ]);
  // NAME gives way on a narrow terminal; the id stays whole, as revoke takes it.
  return table(['ID', 'KIND', 'ORG', 'NAME', 'CREATED', 'EXPIRES', 'REVOKED'], rows, style, { flexible: [3, 2] });
}

/** `qgjob token create`. */
export async function create(options: TokenCreateOptions, signal: AbortSignal): Promise<number> {
  // The flags are checked before anything is sent.
  const body = createRequest(options);
  const ctx = createContext(options, signal);
  const created = await ctx.client
    .request<CreatedToken>('/v1/tokens', { method: 'POST', body })
    .catch((error: unknown) => explain(error, 'token create'));
  if (ctx.json) {
    printJson(created);
    return 0;
  }
  // The secret alone on stdout, so that `qgjob token create ... > file` or `$(...)` keeps just it.
  process.stdout.write(`${created.token}\n`);
  process.stderr.write(
    `created ${describeToken(created)}\n` +
      `note: the secret above is shown only this once: store it now (e.g. as QGJOB_TOKEN in your CI's secrets); 'qgjob token revoke --id=${created.id}' ends it\n`,
  );
  return 0;
}

/** `qgjob token list`. */
export async function list(options: GlobalOptions, signal: AbortSignal): Promise<number> {
  const ctx = createContext(options, signal);
  const answer = await ctx.client
    .request<{ tokens: TokenInfo[] }>('/v1/tokens')
    .catch((error: unknown) => explain(error, 'token list'));
  if (ctx.json) printJson(answer);
  else if (answer.tokens.length === 0) {
    process.stderr.write(
      "no tokens yet (the server's own admin token is not listed) — create one with 'qgjob token create --kind=org --org-id=ORG --name=NAME'\n",
    );
  } else process.stdout.write(`${tokensTable(answer.tokens, ctx.out)}\n`);
  return 0;
}

/** `qgjob token revoke`. */
export async function revoke(options: TokenRevokeOptions, signal: AbortSignal): Promise<number> {
  const ctx = createContext(options, signal);
  const id = given(options.id);
  if (id === undefined) {
    throw new UsageError('--id is required', { hint: "list tokens with 'qgjob token list'" });
  }
  const token = await ctx.client
    .request<TokenInfo>(`/v1/tokens/${encodeURIComponent(id)}/revoke`, { method: 'POST', repeatable: true })
    .catch((error: unknown) => explain(error, 'token revoke', id));
  if (ctx.json) printJson(token);
  else process.stdout.write(`revoked ${describeToken(token, false)}\n`);
  return 0;
}
