/** Credentials with real processes: open mode's guard, token bootstrap, and no token in any log. */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ApiError, QgjobClient } from '@qgjob/client';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { spawnServer } from '../helpers/process.js';

const SERVER_MAIN = fileURLToPath(new URL('../../packages/server/src/main.ts', import.meta.url));
const AGENT_MAIN = fileURLToPath(new URL('../../packages/agent/src/main.ts', import.meta.url));
const jobServer = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', SERVER_MAIN, ...args], { env: { ...process.env, ...env } });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('security with real processes', () => {
  it('refuses open mode on a non-loopback address unless told --insecure-open', async () => {
    const err = await jobServer(['--open', '--host=0.0.0.0', '--port=0', '--memory']).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/refusing to serve without credentials on 0\.0\.0\.0/);
    const ok = await spawnServer(['--host=0.0.0.0', '--insecure-open', '--memory']);
    expect(ok.output()).toMatch(/OPEN MODE/);
    ok.child.kill('SIGTERM');
    await ok.exited;
  }, 60_000);

  it('bootstraps tokens with `job-server token`, then serves only callers that hold one; no token in any log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgjob-sec-'));
    dirs.push(dir);
    const data = `--data-dir=${join(dir, 'data')}`;
    const org = (
      await jobServer(['token', 'create', '--kind=org', '--org-id=qualgent', '--name=ci', data])
    ).stdout.trim();
    const agent = (await jobServer(['token', 'create', '--kind=agent', '--name=lab', data])).stdout.trim();
    expect(org).toMatch(/^qgjob_tok_[0-9a-z]{26}_\S+$/);
    const listed = (await jobServer(['token', 'list', data])).stdout;
    expect(listed).toMatch(/org\s+qualgent\s+active\s+ci/);
    expect(listed).not.toContain(org);

    const server = await spawnServer([data], { LOG_LEVEL: 'debug' }, { open: false });
    try {
      expect(server.output()).toMatch(/tokens required/);
      const anonymous = await new QgjobClient({ server: server.url }).listJobs().catch((e) => e);
      expect((anonymous as ApiError).status).toBe(401);
      const lab = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          AGENT_MAIN,
          `--server=${server.url}`,
          `--token=${agent}`,
          '--name=lab',
          '--executor=simulate',
          '--device=emulator:e1',
          '--log-level=debug',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let agentLog = '';
      lab.stdout.on('data', (d) => {
        agentLog += d;
      });
      lab.stderr.on('data', (d) => {
        agentLog += d;
      });
      const res = await runCli(
        [
          'submit',
          '--org-id=qualgent',
          '--app-version-id=v1',
          '--test=tests/a.spec.js',
          '--wait',
          '--timeout=60s',
          '--json',
        ],
        { env: { QGJOB_SERVER: server.url, QGJOB_TOKEN: org, LOG_LEVEL: 'debug', QGJOB_AGENT_LOG: 'debug' } },
      );
      expect(res.code, res.stderr).toBe(0);
      // The agent token cannot submit; the org token cannot claim.
      const asAgent = await runCli(['submit', '--org-id=qualgent', '--app-version-id=v1', '--test=b.js'], {
        env: { QGJOB_SERVER: server.url, QGJOB_TOKEN: agent },
      });
      expect(asAgent.code).toBe(4);
      const claim = await new QgjobClient({ server: server.url, token: org }).claim('dev_x', 0).catch((e) => e);
      expect((claim as ApiError).status).toBe(403);
      lab.kill('SIGTERM');
      await new Promise((r) => lab.once('exit', r));
      expect(agentLog).toMatch(/lab/);
      const everything = [server.output(), agentLog, res.stdout, res.stderr, asAgent.stdout, asAgent.stderr].join('\n');
      expect(everything.length).toBeGreaterThan(100);
      for (const token of [org, agent]) {
        expect(everything).not.toContain(token);
        expect(everything).not.toContain(token.split('_').pop() as string);
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 90_000);
});
