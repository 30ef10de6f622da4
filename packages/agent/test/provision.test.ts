import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch, BrowserStackAppResponse, BrowserStackAppResult } from '@qgjob/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrowserStackApi } from '../src/browserstack.js';
import { type ArtifactCache, CacheError } from '../src/cache/index.js';
import { silentLogger } from '../src/log.js';
import { Provisioner } from '../src/provision.js';

const SHA = 'a'.repeat(64);
const BUNDLE_OK = 'b'.repeat(64);
const BUNDLE_BAD = 'c'.repeat(64);

function batch(target: Batch['target'], bsUrl: string | null = null): Batch {
  return {
    id: 'bat_1',
    device_id: 'dev_1',
    org_id: 'acme',
    app_version_id: 'v1',
    target,
    install: true,
    app: { sha256: SHA, size: 3, filename: 'app.apk', browserstack_url: bsUrl },
    lease_expires_at: new Date().toISOString(),
    jobs: [
      { id: 'j1', test_path: 'a.spec.js', priority: 5, attempt: 1, bundle_sha256: BUNDLE_OK },
      { id: 'j2', test_path: 'b.spec.js', priority: 5, attempt: 1, bundle_sha256: BUNDLE_BAD },
      { id: 'j3', test_path: 'c.spec.js', priority: 5, attempt: 1, bundle_sha256: null },
    ],
  };
}

describe('Provisioner', () => {
  let dir: string;
  let released: string[];
  let calls: string[];
  const signal = new AbortController().signal;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qgjob-provision-'));
    // As the cache lays it out: <cache>/blobs/<sha256>.
    await mkdir(join(dir, 'blobs'));
    await writeFile(join(dir, 'blobs', SHA), 'apk');
    released = [];
    calls = [];
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const cache = {
    get dir() {
      return dir;
    },
    async blob(sha256: string) {
      calls.push(`blob ${sha256.slice(0, 1)}`);
      return {
        path: join(dir, 'blobs', sha256),
        fetched: true,
        release: () => released.push(`blob ${sha256.slice(0, 1)}`),
      };
    },
    async bundle(sha256: string, _signal: AbortSignal, _output: unknown, options: { deps?: boolean; slot?: string }) {
      calls.push(`bundle ${sha256.slice(0, 1)} deps=${options.deps} slot=${options.slot}`);
      if (sha256 === BUNDLE_BAD)
        throw new CacheError(`bundle ${sha256}: unpack refused: "../x" is unsafe`, 'unsafe_path');
      return {
        dir: join(dir, 'b'),
        workdir: join(dir, 'b', 'e2e'),
        fetched: true,
        depsInstalled: false,
        release: () => released.push(`bundle ${sha256.slice(0, 1)}`),
      };
    },
  } as unknown as ArtifactCache;

  const client = (answers: BrowserStackAppResponse[]) => {
    const results: BrowserStackAppResult[] = [];
    return {
      results,
      api: {
        async browserstackApp() {
          calls.push('ask');
          return answers.shift() as BrowserStackAppResponse;
        },
        async setBrowserstackApp(_id: string, body: BrowserStackAppResult) {
          results.push(body);
          return {
            state: 'ready',
            browserstack_url: body.browserstack_url ?? null,
            retry_ms: 10,
            lease_ms: 1000,
          } as const;
        },
      },
    };
  };
  const answer = (state: BrowserStackAppResponse['state'], url: string | null = null): BrowserStackAppResponse => ({
    state,
    browserstack_url: url,
    retry_ms: 10,
    lease_ms: 1000,
  });

  it('installs a local build from the cache under its own file name, and gives each job its bundle or its error', async () => {
    const p = new Provisioner({ cache, client: client([]).api, log: silentLogger });
    const got = await p.provision(batch('emulator'), signal);
    expect(got.appError).toBeUndefined();
    expect(got.appPath).toBe(join(dir, 'named', SHA, 'app.apk'));
    expect(await readlink(got.appPath as string)).toBe(join(dir, 'blobs', SHA));
    const [j1, j2, j3] = batch('emulator').jobs;
    expect(got.workdirOf(j1!)).toBe(join(dir, 'b', 'e2e'));
    expect(got.bundleErrorOf(j1!)).toBeUndefined();
    expect(got.bundleErrorOf(j2!)).toEqual({
      error: `test bundle ${BUNDLE_BAD}: unpack refused: "../x" is unsafe`,
      final: true,
    });
    expect(got.workdirOf(j3!)).toBeUndefined();
    expect(got.bundleErrorOf(j3!)).toBeUndefined();
    expect(calls).toContain('bundle b deps=true slot=dev_1');
    got.release();
    expect(released.sort()).toEqual(['blob a', 'bundle b']);
  });

  it('names the cached build for a warm device without fetching, and links concurrent installs safely', async () => {
    const p = new Provisioner({ cache, client: client([]).api, log: silentLogger });
    const warm = { ...batch('emulator'), install: false };
    const none = await p.provision(warm, signal);
    expect(none.appPath).toBeUndefined();
    expect(none.appError).toBeUndefined();
    expect(calls.filter((c) => c.startsWith('blob'))).toEqual([]);
    const all = await Promise.all(Array.from({ length: 8 }, () => p.provision(batch('emulator'), signal)));
    expect(all.map((x) => x.appError)).toEqual(Array(8).fill(undefined));
    expect(new Set(all.map((x) => x.appPath))).toEqual(new Set([join(dir, 'named', SHA, 'app.apk')]));
    expect((await p.provision(warm, signal)).appPath).toBe(join(dir, 'named', SHA, 'app.apk'));
  });

  it('waits for another agent’s BrowserStack upload and uses its URL, uploading nothing', async () => {
    const c = client([answer('wait'), answer('wait'), answer('ready', 'bs://shared')]);
    const uploads: string[] = [];
    const api = { uploadApp: async (f: string) => uploads.push(f) } as unknown as BrowserStackApi;
    const got = await new Provisioner({ cache, client: c.api, browserstack: api, log: silentLogger }).provision(
      batch('browserstack'),
      signal,
    );
    expect(got.appPath).toBe('bs://shared');
    expect(calls.filter((x) => x === 'ask')).toHaveLength(3);
    expect(uploads).toEqual([]);
  });

  it('uploads the build under its file name when it holds the lease, and reports the URL', async () => {
    const c = client([answer('upload')]);
    const uploads: { file: string; customId?: string }[] = [];
    const api = {
      uploadApp: async (file: string, o: { customId?: string }) => {
        uploads.push({ file, customId: o.customId });
        return 'bs://new';
      },
    } as unknown as BrowserStackApi;
    const got = await new Provisioner({ cache, client: c.api, browserstack: api, log: silentLogger }).provision(
      batch('browserstack'),
      signal,
    );
    expect(got.appPath).toBe('bs://new');
    expect(uploads).toEqual([{ file: join(dir, 'named', SHA, 'app.apk'), customId: 'v1' }]);
    expect(c.results).toEqual([{ browserstack_url: 'bs://new' }]);
  });

  it('renews the upload lease while a slow upload goes on', async () => {
    const c = client([answer('upload')]);
    const api = {
      uploadApp: async () => {
        await new Promise((r) => setTimeout(r, 1300));
        return 'bs://slow';
      },
    } as unknown as BrowserStackApi;
    const got = await new Provisioner({ cache, client: c.api, browserstack: api, log: silentLogger }).provision(
      batch('browserstack'),
      signal,
    );
    expect(got.appPath).toBe('bs://slow');
    // The first ask took the lease (lease_ms 1000); the upload renewed it once it was a third gone.
    expect(calls.filter((x) => x === 'ask').length).toBeGreaterThanOrEqual(2);
  });

  it('releases the lease and fails the build when the upload fails or there are no credentials', async () => {
    const failing = client([answer('upload')]);
    const api = {
      uploadApp: async () => {
        throw new Error('BrowserStack refused the credentials');
      },
    } as unknown as BrowserStackApi;
    const got = await new Provisioner({ cache, client: failing.api, browserstack: api, log: silentLogger }).provision(
      batch('browserstack'),
      signal,
    );
    expect(got.appPath).toBeUndefined();
    expect(got.appError).toContain('BrowserStack refused the credentials');
    expect(failing.results).toEqual([{ error: 'BrowserStack refused the credentials' }]);

    const bare = client([answer('upload')]);
    const none = await new Provisioner({ cache, client: bare.api, log: silentLogger }).provision(
      batch('browserstack'),
      signal,
    );
    expect(none.appError).toContain('BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY are not set');
    expect(bare.results[0]?.error).toContain('BROWSERSTACK_USERNAME');
  });

  it('for an executor that runs no test code: no dependency install and no BrowserStack upload', async () => {
    const c = client([answer('upload')]);
    const p = new Provisioner({ cache, client: c.api, log: silentLogger, runsTests: false });
    const got = await p.provision(batch('browserstack'), signal);
    expect(got.appPath).toBeUndefined();
    expect(got.appError).toBeUndefined();
    expect(calls).not.toContain('ask');
    expect(calls).toContain('bundle b deps=false slot=dev_1');
    // A known upload is still handed to the test.
    const known = await p.provision(batch('browserstack', 'bs://known'), signal);
    expect(known.appPath).toBe('bs://known');
  });
});
