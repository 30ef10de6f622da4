/**
 * From a job-server started without --open to a first green submission, on each store, using
 * only what the server and the CLI print: the start-up line names the file holding the first
 * admin token; `qgjob token create` makes the org and agent tokens while the server runs.
 */
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { createDatabase, postgresUrl } from '../helpers/db.js';
import { runCommand, SERVER_MAIN, type ServerProcess, spawnServer, TSX } from '../helpers/process.js';

interface Store {
  name: string;
  args(dir: string): Promise<{ args: string[]; drop?: () => Promise<void> }>;
}

const stores: Store[] = [
  { name: 'embedded on disk', args: async (dir) => ({ args: [`--data-dir=${join(dir, 'state', 'data')}`] }) },
  { name: 'embedded in memory', args: async () => ({ args: ['--memory'] }) },
  ...(postgresUrl
    ? [
        {
          name: 'PostgreSQL',
          async args() {
            const db = await createDatabase();
            return { args: [`--database-url=${db.url}`], drop: db.drop };
          },
        },
      ]
    : []),
];

describe.each(stores)('a first start without --open ($name)', (store) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('prints where the admin token is; with it the CLI makes tokens and a first submission passes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qgjob-first-start-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { args, drop } = await store.args(dir);
    if (drop) cleanups.push(drop);
    const server: ServerProcess = await spawnServer(args, { QGJOB_ADMIN_TOKEN: '' }, { open: false, cwd: dir });
    cleanups.push(async () => {
      server.child.kill('SIGTERM');
      await server.exited;
    });

    const line =
      server
        .output()
        .split('\n')
        .find((l) => l.includes('listening on')) ?? '';
    expect(line).toMatch(/tokens required; first admin token written to \S+/);
    const file = /first admin token written to (\S+)/.exec(line)?.[1] as string;
    // With --memory the file is in a scratch directory of its own.
    if (args.includes('--memory')) cleanups.push(() => rm(dirname(file), { recursive: true, force: true }));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const admin = (await readFile(file, 'utf8')).trim();
    const env = (token?: string) => ({ QGJOB_SERVER: server.url, ...(token ? { QGJOB_TOKEN: token } : {}) });

    // Without a token, the CLI says where one comes from.
    const anonymous = await runCli(['list'], { env: env() });
    expect(anonymous.code).toBe(4);
    expect(anonymous.stderr).toContain('qgjob token create');

    const org = await runCli(['token', 'create', '--kind=org', '--org-id=acme', '--name=ci'], { env: env(admin) });
    expect(org.code, org.stderr).toBe(0);
    const agent = await runCli(['token', 'create', '--kind=agent', '--name=farm'], { env: env(admin) });
    expect(agent.code, agent.stderr).toBe(0);

    const sim = await startSimAgent(server.url, { devices: ['emulator:e1'], token: agent.stdout.trim() });
    cleanups.push(() => sim.stop());
    await mkdir(join(dir, 'tests'));
    await writeFile(join(dir, 'tests', 'login.spec.js'), "test('login', async () => {});\n");
    const submit = await runCli(
      ['submit', '--org-id=acme', '--app-version-id=v1', '--test=tests/login.spec.js', '--wait', '--timeout=60s'],
      { env: env(org.stdout.trim()), cwd: dir, timeoutMs: 90_000 },
    );
    expect(submit.code, submit.stderr).toBe(0);
    expect(submit.stderr).toMatch(/1 of 1 job passed|passed/);
  }, 120_000);
});

describe('job-server token while the embedded server runs', () => {
  it('points at qgjob token create and the admin token file, and cleans up argument errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qgjob-first-start-'));
    const data = join(dir, 'data');
    let server: ServerProcess | undefined;
    try {
      server = await spawnServer([`--data-dir=${data}`], { QGJOB_ADMIN_TOKEN: '' }, { open: false, cwd: dir });
      const run = (args: string[]) =>
        runCommand(process.execPath, ['--import', TSX, SERVER_MAIN, ...args], { cwd: dir, timeoutMs: 30_000 });
      const busy = await run(['token', 'create', '--kind=org', '--org-id=acme', '--name=ci', `--data-dir=${data}`]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain('in use by a running job-server');
      expect(busy.stderr).toContain(`QGJOB_TOKEN=$(cat ${join(dir, 'admin-token')}) qgjob token create`);
      const stray = await run(['token', 'create', '--memory']);
      expect(stray.code).toBe(2);
      expect(stray.stderr).toBe('job-server: unknown option --memory\nRun job-server token --help for the options.\n');
    } finally {
      server?.child.kill('SIGTERM');
      await server?.exited;
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
