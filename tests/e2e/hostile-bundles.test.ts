/**
 * Hostile test bundles end to end: uploaded to the server like any bundle, referenced by
 * jobs, refused by the agent when it unpacks them, with a clear error on the job, and
 * nothing written outside the agent's cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { pgliteAdapter } from '../helpers/db.js';
import { waitForJobs } from '../helpers/jobs.js';
import { fileEntry, gzipBomb, paxHeader, rawHeader, tarGz } from '../helpers/raw-tar.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function tree(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push(path.slice(base.length + 1));
    if (entry.isDirectory()) out.push(...(await tree(path, base)));
  }
  return out;
}

describe('hostile bundles', () => {
  let server: TestServer;
  let agent: RunningAgent | undefined;
  let sandbox: string;
  afterEach(async () => {
    await agent?.stop();
    await server.close();
    await rm(sandbox, { recursive: true, force: true });
  });

  it('are refused by the agent with a clear error, and nothing lands outside its cache', async () => {
    server = await startTestServer({ adapter: pgliteAdapter, scheduler: { retryBaseMs: 10 } });
    sandbox = await mkdtemp(join(tmpdir(), 'qgjob-hostile-'));
    const cacheDir = join(sandbox, 'cache');
    const workdir = join(sandbox, 'work');
    await mkdir(workdir);
    const absolute = join(tmpdir(), `qgjob-abs-evil-${randomBytes(6).toString('hex')}`);
    const spec = fileEntry('tests/a.spec.js', 'console.log("fine")\n');
    const hostile: Record<string, { archive: Buffer; says: RegExp }> = {
      'dot-dot': { archive: tarGz(spec, fileEntry('../evil.txt', 'owned\n')), says: /unsafe_path|unsafe path|\.\./ },
      absolute: { archive: tarGz(spec, fileEntry(absolute.slice(1), 'x', { prefix: '/' })), says: /unsafe/ },
      'absolute-name': { archive: tarGz(spec, fileEntry(absolute, 'owned\n')), says: /unsafe/ },
      'symlink-out': {
        archive: tarGz(
          spec,
          rawHeader({ name: 'tests/link', type: '2', linkname: sandbox }),
          fileEntry('tests/link/evil.txt', 'owned\n'),
        ),
        says: /link/,
      },
      'zip-bomb': {
        archive: gzipBomb(
          Buffer.concat([spec, paxHeader({ size: String(10 * 1024 ** 3) }), rawHeader({ name: 'tests/bomb.bin' })]),
          10,
        ),
        says: /too large|too_large|limit/i,
      },
    };
    const client = new QgjobClient({ server: server.url });
    const jobIds = new Map<string, string>();
    for (const [name, { archive }] of Object.entries(hostile)) {
      await client.putBlob(sha(archive), archive, { org_id: 'acme', kind: 'bundle' });
      const submitted = await client.submit({
        org_id: 'acme',
        app_version_id: name,
        test_path: 'tests/a.spec.js',
        bundle_sha256: sha(archive),
      });
      jobIds.set(name, submitted.jobs[0]?.id as string);
    }
    agent = startAgent({
      server: server.url,
      name: 'hostile-host',
      devices: [parseDevice('emulator:e1')],
      executor: 'command',
      command: 'cat {test_path}',
      workdir,
      cacheDir,
      logger: createLogger({ level: 'error' }),
    });
    await agent.ready;
    await waitForJobs(client, [...jobIds.values()]);
    for (const [name, { says }] of Object.entries(hostile)) {
      const job = await client.getJob(jobIds.get(name) as string);
      expect(job.status, name).toBe('errored');
      expect(job.error, name).toMatch(/^test bundle [0-9a-f]{64}: unpack refused: /);
      expect(job.error, name).toMatch(says);
      if (process.env.QGJOB_SHOW_ERRORS) console.info(name, job.error);
      // Refused before any test ran: no run ever executed the test command.
      expect(
        job.runs.every((r) => r.status === 'errored'),
        name,
      ).toBe(true);
    }
    // Nothing outside the cache: the work dir is untouched, no evil file anywhere.
    expect(await readdir(workdir)).toEqual([]);
    expect((await readdir(sandbox)).sort()).toEqual(['cache', 'work']);
    expect(existsSync(join(sandbox, 'evil.txt'))).toBe(false);
    expect(existsSync(absolute)).toBe(false);
    const cached = await tree(cacheDir);
    expect(cached.filter((p) => p.endsWith('evil.txt') || p.endsWith('bomb.bin'))).toEqual([]);
    // Refused archives do not stay in the cache either.
    expect(cached.filter((p) => p.startsWith('bundles/') && p.length > 'bundles/'.length)).toEqual([]);
  });
});
