/**
 * `qgjob token create | list | revoke`, the 401 and 403 messages, and `qgjob cancel` of a
 * running job, as processes against a real job-server in tokens mode.
 */
import { QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ADMIN = 'admin-secret-for-cli-token-tests-0123456789';

describe.each(adapters)('qgjob token, 401/403 and cancel on $name', (adapter) => {
  let server: TestServer;
  let admin: QgjobClient;
  const env = (token?: string) => ({
    QGJOB_SERVER: server.url,
    ...(token === undefined ? {} : { QGJOB_TOKEN: token }),
  });

  beforeAll(async () => {
    server = await startTestServer({ adapter, adminToken: ADMIN });
    admin = new QgjobClient({ server: server.url, token: ADMIN });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates an org token: the secret alone on stdout, once; a note on stderr; the token works', async () => {
    const r = await runCli(
      ['token', 'create', '--kind=org', '--org-id=qualgent', '--name=github-ci', '--expires=30d'],
      { env: env(ADMIN) },
    );
    expect(r.code).toBe(0);
    const secret = r.stdout.trimEnd();
    expect(r.stdout).toBe(`${secret}\n`);
    expect(secret).toMatch(/^qgjob_\S+$/);
    const [created, note] = r.stderr.trimEnd().split('\n');
    expect(created).toMatch(
      /^created org token tok_\w+ "github-ci" for org qualgent, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/,
    );
    expect(note).toMatch(/^note: the secret above is shown only this once: store it now/);
    expect(r.stderr).not.toContain(secret);

    const list = await runCli(['list', '--org-id=qualgent'], { env: env(secret) });
    expect(list.code).toBe(0);
  });

  it('--json prints the API answer, secret included', async () => {
    const r = await runCli(['--json', 'token', 'create', '--kind=agent', '--name=lab-host-1'], { env: env(ADMIN) });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc).sort()).toEqual(
      ['created_at', 'expires_at', 'id', 'kind', 'name', 'org_id', 'revoked_at', 'token'].sort(),
    );
    expect(doc).toMatchObject({ kind: 'agent', org_id: null, name: 'lab-host-1', expires_at: null, revoked_at: null });
  });

  it('lists the tokens as a table without secrets, and revokes one', async () => {
    const made = await runCli(['token', 'create', '--kind=org', '--org-id=acme', '--name=nightly', '--json'], {
      env: env(ADMIN),
    });
    const token = JSON.parse(made.stdout) as { id: string; token: string };

    const list = await runCli(['token', 'list'], { env: env(ADMIN) });
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+ORG\s+NAME\s+CREATED\s+EXPIRES\s+REVOKED$/);
    const row = lines.find((line) => line.startsWith(token.id)) ?? '';
    expect(row).toMatch(
      new RegExp(`^${token.id}\\s+org\\s+acme\\s+nightly\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+-\\s+-$`),
    );
    expect(list.stdout).toMatch(/\sagent\s+-\s+lab-host-1\s/);
    expect(list.stdout).not.toContain(token.token);
    expect(list.stdout).not.toContain('qgjob_');

    const revoked = await runCli(['token', 'revoke', `--id=${token.id}`], { env: env(ADMIN) });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`revoked org token ${token.id} "nightly" for org acme\n`);
    expect(revoked.stderr).toBe('');

    const after = await runCli(['token', 'list', '--json'], { env: env(ADMIN) });
    const listed = JSON.parse(after.stdout).tokens.find((t: { id: string }) => t.id === token.id);
    expect(listed.revoked_at).not.toBeNull();
    expect(after.stdout).not.toContain(token.token);

    // The revoked token is refused, with where to get another.
    const refused = await runCli(['list', '--org-id=acme'], { env: env(token.token) });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(
      /^error: the qgjob server at http:\/\/127\.0\.0\.1:\d+\/v1\/jobs\S* did not accept the token \(401 unauthorized: token revoked: ask an admin for a new one\) — ask its operator for one, or as an admin create one with 'qgjob token create --kind=org --org-id=ORG --name=NAME'/,
    );
    expect(refused.stderr).not.toContain(token.token);
  });

  it('revoking an unknown id exits 2', async () => {
    const r = await runCli(['token', 'revoke', '--id=tok_nope'], { env: env(ADMIN) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: no token with id tok_nope — list tokens with 'qgjob token list'\n");
  });

  it('without a token: 401 says this server requires one and where it comes from', async () => {
    const r = await runCli(['list'], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^error: this server requires a token \(the qgjob server at http:\/\/127\.0\.0\.1:\d+\S* answered 401 unauthorized\) — /,
    );
    expect(r.stderr).toContain(
      "ask its operator for one, or as an admin create one with 'qgjob token create --kind=org --org-id=ORG --name=NAME' (the server's first start prints where its admin token is); pass it with --token or QGJOB_TOKEN\n",
    );
  });

  it('403 says which kind of token is needed', async () => {
    const org = (
      await admin.request<{ token: string }>('/v1/tokens', {
        method: 'POST',
        body: { kind: 'org', org_id: 'qualgent', name: 'ci-403' },
      })
    ).token;
    const agent = (
      await admin.request<{ token: string }>('/v1/tokens', { method: 'POST', body: { kind: 'agent', name: 'a-403' } })
    ).token;
    const [tokens, create, otherOrg, agentList] = await Promise.all([
      runCli(['token', 'list'], { env: env(org) }),
      runCli(['token', 'create', '--kind=org', '--org-id=qualgent', '--name=x'], { env: env(org) }),
      runCli(['list', '--org-id=acme'], { env: env(org) }),
      runCli(['list'], { env: env(agent) }),
    ]);
    expect(tokens.code).toBe(4);
    expect(tokens.stderr).toMatch(
      /^error: not allowed by the qgjob server at \S+\/v1\/tokens \(403 forbidden: an org token cannot do this: it needs admin credentials\) — token list needs an admin token: set --token or QGJOB_TOKEN to one/,
    );
    expect(create.code).toBe(4);
    expect(create.stdout).toBe('');
    expect(create.stderr).toMatch(/ — token create needs an admin token: /);
    expect(otherOrg.code).toBe(4);
    expect(otherOrg.stderr).toMatch(
      / — use a token of org acme: an admin creates one with 'qgjob token create --kind=org --org-id=acme --name=NAME'\n$/,
    );
    expect(agentList.code).toBe(4);
    expect(agentList.stderr).toMatch(/ — this needs an org or admin token: set --token or QGJOB_TOKEN to one/);
    for (const r of [tokens, create, otherOrg, agentList]) {
      expect(r.stderr).not.toContain(org);
      expect(r.stderr).not.toContain(agent);
    }
  });

  it('cancels a running job; a finished one is refused with exit 2', async () => {
    const registered = await admin.registerAgent({
      name: 'cancel-host',
      devices: [
        { name: 'emulator-5554', target: 'emulator' },
        { name: 'emulator-5556', target: 'emulator' },
      ],
    });
    const [first, second] = registered.devices.map((d) => d.id) as [string, string];
    const running = (await admin.submit({ org_id: 'qualgent', app_version_id: 'c1', test_path: 'tests/a.spec.js' }))
      .jobs[0]?.id as string;
    const batch = (await admin.claim(first, 0)).batch;
    if (!batch) throw new Error('no batch for the first device');
    await admin.report(batch.id, { events: [{ type: 'start', job_id: running }] });
    expect((await admin.getJob(running)).status).toBe('running');

    const cancelled = await runCli(['cancel', `--job-id=${running}`], { env: env(ADMIN) });
    expect(cancelled.stderr).toBe('');
    expect(cancelled.stdout).toBe(`${running} cancelled\n`);
    expect(cancelled.code).toBe(0);

    const passed = (await admin.submit({ org_id: 'qualgent', app_version_id: 'c2', test_path: 'tests/b.spec.js' }))
      .jobs[0]?.id as string;
    const other = (await admin.claim(second, 0)).batch;
    if (!other) throw new Error('no batch for the second device');
    await admin.report(other.id, {
      events: [
        { type: 'start', job_id: passed },
        { type: 'finish', job_id: passed, status: 'passed' },
      ],
    });
    const refused = await runCli(['cancel', `--job-id=${passed}`], { env: env(ADMIN) });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `error: job ${passed} already passed: only an unfinished job can be cancelled — a finished job keeps its outcome: see 'qgjob status --job-id=${passed}'\n`,
    );
  });
});
