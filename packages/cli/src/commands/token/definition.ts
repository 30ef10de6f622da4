/** `qgjob token create | list | revoke` (admin): their flags and help; the code that runs them is ./run.ts. */
import { type CommandOptions, defineCommand, defineGroup, flag } from '../define.js';

const TOKEN_ADMIN = `Needs an admin token (--token or QGJOB_TOKEN): the server's QGJOB_ADMIN_TOKEN, or a token
made with 'qgjob token create --kind=admin'. A server started with --open takes no tokens.`;

const TOKEN_EXIT = `Exit codes:
  0    done
  2    a bad flag; no such token
  3    server unreachable or server error
  4    authentication error, or a token that is not an admin token
  130  interrupted`;

const CREATE_FLAGS = [
  flag(
    '--kind <kind>',
    "org (one org's jobs, apps and artifacts), agent (for qgjob-agent: register, claim, report) or admin (everything)",
  ),
  flag('--org-id <org>', 'with --kind=org (and only with it): the org the token reaches'),
  flag('--name <name>', 'what it is for, e.g. github-ci (at most 100 characters)'),
  flag('--expires <duration>', 'it stops working after this long: 30d, 12h, 90m; 1m to 3650d (default: never)'),
];
const REVOKE_FLAGS = [flag('--id <id>', "the token's id, as 'qgjob token list' shows it (tok_...)")];

export type TokenCreateOptions = CommandOptions<typeof CREATE_FLAGS>;
export type TokenRevokeOptions = CommandOptions<typeof REVOKE_FLAGS>;

const create = defineCommand({
  name: 'create',
  description: 'Create a token; its secret is printed once, on stdout.',
  flags: CREATE_FLAGS,
  required: [['--kind'], ['--name']],
  load: async () => (await import('./run.js')).create,
  examples: [
    'qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d',
    'qgjob token create --kind=agent --name=lab-host-1',
    'QGJOB_TOKEN=$(qgjob token create --kind=org --org-id=qualgent --name=nightly) qgjob list',
  ],
  help: `
Output: the secret alone on stdout, shown this once (the server keeps only its hash); on
stderr what was created, and that it is not shown again.

JSON (--json): the server's answer: {"id", "kind", "org_id", "name", "created_at",
  "expires_at", "revoked_at", "token"}; token is the secret.

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
});

const list = defineCommand({
  name: 'list',
  description: 'List the tokens: id, kind, org, name, dates; never their secrets.',
  flags: [],
  load: async () => (await import('./run.js')).list,
  examples: ['qgjob token list', "qgjob token list --json | jq -r '.tokens[].id'"],
  help: `
One row per token: ID KIND ORG NAME CREATED EXPIRES REVOKED ('-' when none). The server's
own admin token (QGJOB_ADMIN_TOKEN) is not listed.

JSON (--json): {"tokens": [{"id", "kind", "org_id", "name", "created_at", "expires_at", "revoked_at"}]}

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
});

const revoke = defineCommand({
  name: 'revoke',
  description: 'Revoke a token: requests with it are refused (401) from now on.',
  flags: REVOKE_FLAGS,
  required: [['--id']],
  hint: "list tokens with 'qgjob token list'",
  load: async () => (await import('./run.js')).revoke,
  examples: ['qgjob token revoke --id=tok_123'],
  help: `
Output: revoked KIND token ID "NAME"

JSON (--json): the token as 'qgjob token list --json' shows it, with revoked_at set.

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
});

export const token = defineGroup({
  name: 'token',
  description: 'Admin: create, list and revoke the API tokens of a job-server that requires them.',
  examples: [
    'qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d',
    'qgjob token list',
    'qgjob token revoke --id=tok_123',
  ],
  help: `\n${TOKEN_ADMIN}`,
  commands: [create, list, revoke],
});
