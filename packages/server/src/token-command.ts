/**
 * `job-server token create|list|revoke`: manage credentials straight in the store, e.g.
 * to create the first admin or org token before any server runs. With a running server,
 * the admin API (/v1/tokens) does the same.
 */
import { parseArgs } from 'node:util';
import { openDb } from './db/open.js';
import { StoreInUseError } from './errors.js';
import { adminTokenPath } from './first-admin.js';
import { AuthService } from './services/auth.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export const TOKEN_HELP = `job-server token — create, list and revoke credentials

Usage:
  job-server token create --kind=org --org-id=ORG --name=NAME [--expires=30d]
  job-server token create --kind=agent --name=NAME
  job-server token create --kind=admin --name=NAME
  job-server token list
  job-server token revoke TOKEN_ID

The store is chosen as for the server: --database-url (DATABASE_URL) or --data-dir
(QGJOB_DATA_DIR, default ./.qgjob/data). The secret is printed once, on stdout; only its
hash is kept.`;

export async function tokenCommand(argv: string[], fail: (message: string, code?: number) => never): Promise<void> {
  let parsed: ReturnType<typeof parseTokenArgs>;
  try {
    parsed = parseTokenArgs(argv);
  } catch (error) {
    fail(`${argumentError(error)}\nRun job-server token --help for the options.`);
  }
  const { values, positionals } = parsed;
  const [action, id] = positionals;
  if (values.help || !action) {
    process.stdout.write(`${TOKEN_HELP}\n`);
    return;
  }
  const dataDir = values['data-dir'] ?? process.env.QGJOB_DATA_DIR;
  const db = await openDb({ databaseUrl: values['database-url'] ?? process.env.DATABASE_URL, dataDir }).catch(
    (error: Error) => {
      if (!(error instanceof StoreInUseError)) throw error;
      return fail(
        `the embedded store ${error.dataDir} is in use by a running job-server (process ${error.pid}). ` +
          'While it runs, manage tokens through its API with an admin token: ' +
          `QGJOB_TOKEN=$(cat ${adminTokenPath({ dataDir })}) qgjob token create --kind=org --org-id=ORG --name=NAME ` +
          '(also qgjob token list and qgjob token revoke). Or stop the server and run this again.',
        1,
      );
    },
  );
  const auth = new AuthService(db, { mode: 'tokens' });
  try {
    await tokenAction(auth, action, id, values, fail);
  } finally {
    await db.close();
  }
}

/** node:util parseArgs's message, without its advice about '--' (which reads as a stray quote). */
export function argumentError(error: unknown): string {
  const message = (error as Error).message.replace(/\. To specify a positional.*$/s, '');
  const unknown = /^Unknown option '(-[^']+)'$/.exec(message);
  return unknown ? `unknown option ${unknown[1]}` : message;
}

function parseTokenArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      kind: { type: 'string' },
      'org-id': { type: 'string' },
      name: { type: 'string' },
      expires: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
}

async function tokenAction(
  auth: AuthService,
  action: string,
  id: string | undefined,
  values: ReturnType<typeof parseTokenArgs>['values'],
  fail: (message: string, code?: number) => never,
): Promise<void> {
  if (action === 'create') {
    const kind = values.kind;
    if (kind !== 'org' && kind !== 'agent' && kind !== 'admin') fail('--kind must be one of org, agent, admin');
    if (!values.name) fail('--name is required: say what the token is for, e.g. --name=github-ci');
    let expiresInMs: number | undefined;
    if (values.expires !== undefined) {
      const m = /^(\d+)([smhd])$/.exec(values.expires);
      if (!m) fail(`--expires must look like 30d, 12h or 90m (got "${values.expires}")`);
      expiresInMs = Number(m[1]) * (UNITS[m[2] as string] as number) * 1000;
    }
    const created = await auth.create({ kind, orgId: values['org-id'], name: values.name, expiresInMs });
    process.stderr.write(
      `created ${created.kind} token ${created.id}${created.org_id ? ` for org ${created.org_id}` : ''}` +
        `${created.expires_at ? `, expires ${created.expires_at}` : ''}. It is shown once, below: store it now.\n`,
    );
    process.stdout.write(`${created.token}\n`);
  } else if (action === 'list') {
    for (const t of await auth.list()) {
      const state = t.revoked_at
        ? 'revoked'
        : t.expires_at && Date.parse(t.expires_at) < Date.now()
          ? 'expired'
          : 'active';
      process.stdout.write(
        `${t.id}  ${t.kind.padEnd(5)}  ${(t.org_id ?? '-').padEnd(16)}  ${state.padEnd(7)}  ${t.name}\n`,
      );
    }
  } else if (action === 'revoke') {
    if (!id) fail('give the id of the token to revoke: job-server token revoke TOKEN_ID');
    const t = await auth.revoke(id);
    process.stderr.write(`revoked ${t.id} (${t.kind}${t.org_id ? `, org ${t.org_id}` : ''}, ${t.name})\n`);
  } else {
    fail(`unknown token action "${action}": use create, list or revoke`);
  }
}
