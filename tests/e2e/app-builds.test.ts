/**
 * App builds end to end: `qgjob app upload` registers a build; agents download it once
 * into their cache, verify it, and install from it; a corrupted cached copy is caught and
 * fetched again.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { waitForJobs } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe.each(adapters)('app builds on $name', (adapter) => {
  let server: TestServer;
  let dir: string;
  const agents: RunningAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs the uploaded build from the cache, and fetches a corrupted cached copy again', async () => {
    server = await startTestServer({ adapter });
    dir = await mkdtemp(join(tmpdir(), 'qgjob-app-e2e-'));
    const apk = Buffer.from('PK\u0003\u0004 pretend apk '.repeat(10_000));
    const sha256 = createHash('sha256').update(apk).digest('hex');
    await writeFile(join(dir, 'app-release.apk'), apk);
    const upload = await runCli(
      ['app', 'upload', `--server=${server.url}`, '--org-id=acme', '--app-version-id=v7', 'app-release.apk', '--json'],
      { cwd: dir },
    );
    expect(upload.code, upload.stderr).toBe(0);
    expect(JSON.parse(upload.stdout)).toMatchObject({
      sha256,
      size: apk.length,
      filename: 'app-release.apk',
      uploaded: true,
    });

    const cacheDir = join(dir, 'cache');
    const workdir = join(dir, 'work');
    await mkdir(workdir);
    const start = async (name: string, device: string) => {
      const agent = startAgent({
        server: server.url,
        name,
        devices: [parseDevice(`emulator:${device}`)],
        executor: 'command',
        command: 'true',
        // Stands in for `adb install -r`: proves which bytes were installed, and from where.
        installCommand: 'sha256sum {app_path} && basename {app_path}',
        workdir,
        cacheDir,
        logger: createLogger({ level: 'error' }),
      });
      agents.push(agent);
      await agent.ready;
      return agent;
    };
    const client = new QgjobClient({ server: server.url });
    const installLog = async (jobId: string) =>
      (await client.getLogs(jobId)).chunks
        .filter((c) => c.stream === 'install')
        .map((c) => c.text)
        .join('');

    const first = await start('host-1', 'e1');
    const one = await client.submit({ org_id: 'acme', app_version_id: 'v7', test_path: 'tests/a.spec.js' });
    const [job1] = await waitForJobs(client, [one.jobs[0]?.id as string]);
    expect(job1?.status).toBe('passed');
    expect(job1?.runs[0]?.app_installed).toBe(true);
    expect(await installLog(job1?.id as string)).toContain(`${sha256}  `);
    expect(await installLog(job1?.id as string)).toContain('app-release.apk');
    await first.stop();
    agents.splice(0);

    // Damage the cached copy: the next install must notice and download it again.
    const cached = join(cacheDir, 'blobs', sha256);
    const bytes = await readFile(cached);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(cached, bytes);

    await start('host-2', 'e2');
    const two = await client.submit({ org_id: 'acme', app_version_id: 'v7', test_path: 'tests/b.spec.js' });
    const [job2] = await waitForJobs(client, [two.jobs[0]?.id as string]);
    expect(job2?.status).toBe('passed');
    expect(job2?.runs[0]?.app_installed).toBe(true);
    expect(await installLog(job2?.id as string)).toContain(`${sha256}  `);
    expect(
      createHash('sha256')
        .update(await readFile(cached))
        .digest('hex'),
    ).toBe(sha256);

    // The same file again: nothing is uploaded, the registration stands.
    const again = await runCli(
      ['app', 'upload', `--server=${server.url}`, '--org-id=acme', '--app-version-id=v7', 'app-release.apk', '--json'],
      { cwd: dir },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ uploaded: false, created: false });
  });
});
