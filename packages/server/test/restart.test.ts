import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, postgresUrl } from '../../../tests/helpers/db.js';
import { spawnServer } from '../../../tests/helpers/process.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function submitKillRestart(args: string[]): Promise<void> {
  const first = await spawnServer(args);
  const client = new QgjobClient({ server: first.url });
  const submitted = await client.submit(
    { org_id: 'qualgent', app_version_id: 'xyz123', tests: ['tests/onboarding.spec.js', 'tests/login.spec.js'] },
    { idempotencyKey: 'k1' },
  );
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');

  const second = await spawnServer(args);
  cleanups.push(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  const again = new QgjobClient({ server: second.url });
  for (const j of submitted.jobs) {
    const job = await again.getJob(j.id);
    expect(job).toMatchObject({ id: j.id, status: 'queued', test_path: j.test_path });
  }
  // The idempotency key survived too: the retried submit is answered, not duplicated.
  const retried = await again.submit(
    { org_id: 'qualgent', app_version_id: 'xyz123', tests: ['tests/onboarding.spec.js', 'tests/login.spec.js'] },
    { idempotencyKey: 'k1' },
  );
  expect(retried.submission_id).toBe(submitted.submission_id);
  expect((await again.listJobs()).jobs).toHaveLength(2);
}

describe('a job-server killed with SIGKILL loses nothing', () => {
  it('on the embedded store (PGlite data directory)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgjob-restart-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    await submitKillRestart([`--data-dir=${join(dir, 'data')}`]);
  }, 90_000);

  it.skipIf(!postgresUrl)(
    'on PostgreSQL',
    async () => {
      const database = await createDatabase();
      cleanups.push(() => database.drop());
      await submitKillRestart([`--database-url=${database.url}`]);
    },
    90_000,
  );

  it('refuses a second server on the same data directory with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qgjob-lock-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const first = await spawnServer([`--data-dir=${join(dir, 'data')}`]);
    cleanups.push(async () => {
      first.child.kill('SIGTERM');
      await first.exited;
    });
    await expect(spawnServer([`--data-dir=${join(dir, 'data')}`])).rejects.toThrow(/in use by process \d+/);
  }, 90_000);
});

describe('a job-server stopped with SIGTERM', () => {
  it('answers waiting long-polls, finishes in-flight requests, then exits 0', async () => {
    const server = await spawnServer(['--memory']);
    const client = new QgjobClient({ server: server.url, attempts: 1 });
    const reg = await client.registerAgent({ name: 'h', devices: [{ name: 'e1', target: 'emulator' }] });
    const poll = client.claim(reg.devices[0]?.id as string, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    expect(await poll).toEqual({ batch: null });
    expect(await server.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(server.output()).toMatch(/SIGTERM received, finishing in-flight requests/);
    await expect(client.health()).rejects.toThrow(/cannot reach/);
  }, 60_000);
});
