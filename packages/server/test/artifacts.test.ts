import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Batch } from '@qgjob/protocol';
import { type App, buildApp, DirBlobStore } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';
import { isInternalAddress } from '../src/services/url-guard.js';

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(entry.name);
  }
  return out;
}

describe.each(adapters)('blobs, app builds and BrowserStack uploads on $name', (adapter) => {
  let store: TestDb;
  let app: App;
  let blobDir: string;

  const start = async (artifacts = {}) => {
    app = await buildApp({ db: store.db, blobs: new DirBlobStore(blobDir), artifacts });
  };
  beforeEach(async () => {
    store = await adapter.open();
    blobDir = await mkdtemp(join(tmpdir(), 'qgjob-blobs-test-'));
    await start();
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
    await rm(blobDir, { recursive: true, force: true });
  });

  const put = (hash: string, body: Buffer, query = 'org_id=acme&kind=bundle') =>
    app.http.inject({
      method: 'PUT',
      url: `/v1/blobs/${hash}?${query}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: body,
    });

  /** A registered build of acme/v1 and 30 queued BrowserStack jobs of it. */
  const browserstackBuildWithJobs = async (content: string) => {
    const apk = Buffer.from(content);
    await put(sha(apk), apk, 'org_id=acme&kind=app');
    await app.artifacts.registerApp({ org_id: 'acme', app_version_id: 'v1', sha256: sha(apk) });
    await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `t${i}.spec.js`),
    });
  };

  it('stores a blob once under its hash, serves it back, and tells the org it has it', async () => {
    const data = Buffer.from('test sources'.repeat(1000));
    const hash = sha(data);
    expect((await app.http.inject({ method: 'HEAD', url: `/v1/blobs/${hash}?org_id=acme` })).statusCode).toBe(404);
    const first = await put(hash, data);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      sha256: hash,
      org_id: 'acme',
      kind: 'bundle',
      size: data.length,
      uploaded: true,
    });
    const again = await put(hash, data);
    expect(again.statusCode).toBe(200);
    expect(again.json().uploaded).toBe(false);
    expect((await app.http.inject({ method: 'HEAD', url: `/v1/blobs/${hash}?org_id=acme` })).statusCode).toBe(200);
    // Another org holding nothing does not learn that acme has these bytes.
    expect((await app.http.inject({ method: 'HEAD', url: `/v1/blobs/${hash}?org_id=globex` })).statusCode).toBe(404);
    const got = await app.http.inject({ method: 'GET', url: `/v1/blobs/${hash}` });
    expect(got.statusCode).toBe(200);
    expect(got.rawPayload.equals(data)).toBe(true);
    const counted = (await app.metrics.registry.getSingleMetric('qgjob_blob_uploads_total')?.get())?.values ?? [];
    expect(counted.find((v) => v.labels.kind === 'bundle')?.value).toBe(1);
  });

  it('refuses content that does not match its declared hash, storing nothing', async () => {
    const declared = sha('what the client meant');
    const res = await put(declared, Buffer.from('something else'));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'hash_mismatch', field: 'sha256' });
    expect(res.json().error.message).toContain(sha('something else'));
    expect(await files(blobDir)).toEqual([]);
    expect((await app.http.inject({ method: 'HEAD', url: `/v1/blobs/${declared}?org_id=acme` })).statusCode).toBe(404);
  });

  it('refuses blobs over the size limit, bad hashes, kinds and bodies with field-naming errors', async () => {
    await app.http.close();
    await start({ maxBundleBytes: 1000 });
    const big = Buffer.alloc(2000, 1);
    const tooBig = await put(sha(big), big);
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error.message).toContain('1000');
    expect(await files(blobDir)).toEqual([]);
    const badHash = await put('abc', Buffer.from('x'));
    expect(badHash.statusCode).toBe(400);
    expect(badHash.json().error.field).toBe('sha256');
    const noKind = await put(sha('x'), Buffer.from('x'), 'org_id=acme');
    expect(noKind.json().error.field).toBe('kind');
    const noOrg = await put(sha('x'), Buffer.from('x'), 'kind=app');
    expect(noOrg.json().error.field).toBe('org_id');
    const json = await app.http.inject({
      method: 'PUT',
      url: `/v1/blobs/${sha('x')}?org_id=acme&kind=app`,
      payload: { x: 1 },
    });
    expect(json.statusCode).toBe(415);
  });

  it('drops an upload that stalls, leaving no partial file', async () => {
    await app.http.close();
    app = await buildApp({ db: store.db, blobs: new DirBlobStore(blobDir), uploadIdleMs: 300 });
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.http.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `PUT /v1/blobs/${sha('x')}?org_id=acme&kind=bundle HTTP/1.1\r\nhost: x\r\n` +
        'content-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n',
    );
    socket.write(Buffer.alloc(1000, 1));
    const started = Date.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(5000);
    // The partial file is removed once the request's stream fails.
    for (let i = 0; i < 50 && (await files(blobDir)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await files(blobDir)).toEqual([]);
  });

  it('registers a build per app version: from an upload or a URL; a version is one build', async () => {
    const apk = Buffer.from('an apk'.repeat(500));
    const hash = sha(apk);
    const unknown = await app.http.inject({
      method: 'POST',
      url: '/v1/apps',
      payload: { org_id: 'acme', app_version_id: 'v1', sha256: hash },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.field).toBe('sha256');
    await put(hash, apk, 'org_id=acme&kind=app');
    const reg = await app.http.inject({
      method: 'POST',
      url: '/v1/apps',
      payload: { org_id: 'acme', app_version_id: 'v1', sha256: hash, filename: 'app.apk' },
    });
    expect(reg.statusCode).toBe(201);
    expect(reg.json()).toMatchObject({ sha256: hash, size: apk.length, filename: 'app.apk', created: true });
    const same = await app.http.inject({
      method: 'POST',
      url: '/v1/apps',
      payload: { org_id: 'acme', app_version_id: 'v1', sha256: hash },
    });
    expect(same.statusCode).toBe(200);
    const other = Buffer.from('another build');
    await put(sha(other), other, 'org_id=acme&kind=app');
    const conflict = await app.http.inject({
      method: 'POST',
      url: '/v1/apps',
      payload: { org_id: 'acme', app_version_id: 'v1', sha256: sha(other) },
    });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.field).toBe('app_version_id');
    const both = await app.http.inject({
      method: 'POST',
      url: '/v1/apps',
      payload: { org_id: 'acme', app_version_id: 'v2', sha256: hash, url: 'http://x/app.apk' },
    });
    expect(both.json().error.field).toBe('url');

    // From a URL: the server fetches and hashes it.
    const origin: Server = createServer((req, res) => {
      if (req.url === '/builds/v3.apk') res.end(apk);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    try {
      const fetched = await app.http.inject({
        method: 'POST',
        url: '/v1/apps',
        payload: { org_id: 'acme', app_version_id: 'v3', url: `${base}/builds/v3.apk` },
      });
      expect(fetched.statusCode).toBe(201);
      expect(fetched.json()).toMatchObject({ sha256: hash, filename: 'v3.apk', source_url: `${base}/builds/v3.apk` });
      const missing = await app.http.inject({
        method: 'POST',
        url: '/v1/apps',
        payload: { org_id: 'acme', app_version_id: 'v4', url: `${base}/nope.apk` },
      });
      expect(missing.statusCode).toBe(422);
      expect(missing.json().error).toMatchObject({ code: 'fetch_failed', field: 'url' });
    } finally {
      origin.close();
    }
    const shown = await app.http.inject({ method: 'GET', url: '/v1/apps?org_id=acme&app_version_id=v3' });
    expect(shown.json().sha256).toBe(hash);
  });

  it('with tokens, refuses build URLs into the server’s own network', async () => {
    await app.http.close();
    const admin = 'admin-token-for-url-tests-0123456789';
    app = await buildApp({
      db: store.db,
      blobs: new DirBlobStore(blobDir),
      auth: { mode: 'tokens', adminToken: admin },
    });
    const register = (url: string) =>
      app.http.inject({
        method: 'POST',
        url: '/v1/apps',
        headers: { authorization: `Bearer ${admin}` },
        payload: { org_id: 'acme', app_version_id: 'v1', url },
      });
    for (const url of ['http://127.0.0.1:9/app.apk', 'http://[::1]/a.apk', 'http://169.254.169.254/latest/meta-data']) {
      const res = await register(url);
      expect(res.statusCode, url).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'fetch_failed', field: 'url' });
      expect(res.json().error.message).toContain('internal address');
    }
    expect(await files(blobDir)).toEqual([]);
    expect(isInternalAddress('10.1.2.3')).toBe(true);
    expect(isInternalAddress('::ffff:192.168.1.1')).toBe(true);
    expect(isInternalAddress('fd00::1')).toBe(true);
    expect(isInternalAddress('93.184.216.34')).toBe(false);
    expect(isInternalAddress('2606:2800:220:1::248')).toBe(false);
  });

  it('hands batches their build and their jobs their bundle; jobs of other sources are not deduplicated', async () => {
    const apk = Buffer.from('apk');
    await put(sha(apk), apk, 'org_id=acme&kind=app');
    await app.artifacts.registerApp({ org_id: 'acme', app_version_id: 'v1', sha256: sha(apk), filename: 'a.apk' });
    const b1 = Buffer.from('bundle one');
    const b2 = Buffer.from('bundle two');
    await put(sha(b1), b1);
    await put(sha(b2), b2);
    const unknown = await app.http.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: { org_id: 'acme', app_version_id: 'v1', test_path: 't.spec.js', bundle_sha256: sha('nope') },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.field).toBe('bundle_sha256');
    const first = await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['t.spec.js'],
      bundle_sha256: sha(b1),
    });
    const same = await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['t.spec.js'],
      bundle_sha256: sha(b1),
    });
    const other = await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['t.spec.js'],
      bundle_sha256: sha(b2),
    });
    expect(same.response.jobs[0]?.deduplicated).toBe(true);
    expect(other.response.jobs[0]?.deduplicated).toBe(false);
    const [device] = (await app.scheduler.register({ name: 'h', devices: [{ name: 'e1', target: 'emulator' }] }))
      .devices;
    const { batch } = await app.scheduler.claim(device?.id as string, 0);
    expect(batch?.app).toEqual({ sha256: sha(apk), size: 3, filename: 'a.apk', browserstack_url: null });
    expect(new Set(batch?.jobs.map((j) => j.bundle_sha256))).toEqual(new Set([sha(b1), sha(b2)]));
    expect(first.response.jobs[0]?.id).toBeDefined();
    const job = await app.queue.getJob(first.response.jobs[0]?.id as string);
    expect(job.bundle_sha256).toBe(sha(b1));
  });

  it('lets one BrowserStack batch upload a build while the others wait, then gives everyone its bs:// URL', async () => {
    await browserstackBuildWithJobs('apk for browserstack');
    const reg = await app.scheduler.register({
      name: 'h',
      devices: [0, 1, 2].map((i) => ({ name: `bs-${i}`, target: 'browserstack' as const })),
      browserstack: { account: 'acme-bs', parallel_limit: 3 },
    });
    const batches = [];
    for (const d of reg.devices) {
      const { batch } = await app.scheduler.claim(d.id, 0);
      if (batch) batches.push(batch);
    }
    expect(batches.length).toBeGreaterThanOrEqual(2);
    const [a, b] = batches;
    const ask = (id: string) => app.http.inject({ method: 'POST', url: `/v1/batches/${id}/browserstack-app` });
    expect((await ask(a?.id as string)).json().state).toBe('upload');
    expect((await ask(b?.id as string)).json().state).toBe('wait');
    // A failed upload releases the lease: the next to ask takes it over.
    await app.http.inject({
      method: 'PUT',
      url: `/v1/batches/${a?.id}/browserstack-app`,
      payload: { error: 'network down' },
    });
    expect((await ask(b?.id as string)).json().state).toBe('upload');
    expect((await ask(a?.id as string)).json().state).toBe('wait');
    const done = await app.http.inject({
      method: 'PUT',
      url: `/v1/batches/${b?.id}/browserstack-app`,
      payload: { browserstack_url: 'bs://0123456789abcdef' },
    });
    expect(done.json()).toMatchObject({ state: 'ready', browserstack_url: 'bs://0123456789abcdef' });
    expect((await ask(a?.id as string)).json()).toMatchObject({
      state: 'ready',
      browserstack_url: 'bs://0123456789abcdef',
    });
    const bad = await app.http.inject({
      method: 'PUT',
      url: `/v1/batches/${b?.id}/browserstack-app`,
      payload: { browserstack_url: 'https://not-bs' },
    });
    expect(bad.json().error.field).toBe('browserstack_url');
  });

  it('keeps busy BrowserStack devices of one account within its parallel limit, across agents', async () => {
    await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `t${i}.spec.js`),
    });
    await app.queue.submit({
      org_id: 'globex',
      app_version_id: 'v1',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `t${i}.spec.js`),
    });
    const account = { account: 'shared', parallel_limit: 3 };
    const one = await app.scheduler.register({
      name: 'h1',
      devices: [0, 1, 2].map((i) => ({ name: `bs-${i}`, target: 'browserstack' as const })),
      browserstack: account,
    });
    const two = await app.scheduler.register({
      name: 'h2',
      devices: [0, 1, 2].map((i) => ({ name: `bs-${i}`, target: 'browserstack' as const })),
      browserstack: account,
    });
    const devices = [...one.devices, ...two.devices];
    const claimed = await Promise.all(devices.map((d) => app.scheduler.claim(d.id, 0)));
    const got = claimed.filter((c) => c.batch !== null);
    expect(got).toHaveLength(3);
    // Ending one batch frees one slot, no more.
    const first = got[0]?.batch;
    await app.scheduler.report(first?.id as string, {
      events: [],
      done: { unstarted: first?.jobs.map((j) => j.id) ?? [] },
    });
    const idle = devices.filter((d) => !got.some((c) => c.batch?.device_id === d.id) || d.id === first?.device_id);
    const again = await Promise.all(idle.map((d) => app.scheduler.claim(d.id, 0)));
    expect(again.filter((c) => c.batch !== null)).toHaveLength(1);
  });

  it('keeps the last known limit for an agent that could not read its plan', async () => {
    await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `t${i}.spec.js`),
    });
    const one = await app.scheduler.register({
      name: 'h1',
      devices: [{ name: 'bs', target: 'browserstack' }],
      browserstack: { account: 'one-slot', parallel_limit: 1 },
    });
    // This agent knows its account but not the plan: it joins the pool, the limit stays.
    const two = await app.scheduler.register({
      name: 'h2',
      devices: [{ name: 'bs', target: 'browserstack' }],
      browserstack: { account: 'one-slot' },
    });
    const claims = await Promise.all([one, two].map((r) => app.scheduler.claim(r.devices[0]?.id as string, 0)));
    expect(claims.filter((c) => c.batch !== null)).toHaveLength(1);
  });

  it('frees the slot of a device whose agent restarted mid-batch, so the pool is not stuck', async () => {
    await app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'browserstack',
      tests: Array.from({ length: 30 }, (_, i) => `t${i}.spec.js`),
    });
    const reg = await app.scheduler.register({
      name: 'h',
      devices: [0, 1].map((i) => ({ name: `bs-${i}`, target: 'browserstack' as const })),
      browserstack: { account: 'small', parallel_limit: 2 },
    });
    const ids = reg.devices.map((d) => d.id);
    for (const id of ids) expect((await app.scheduler.claim(id, 0)).batch).not.toBeNull();
    // The agent restarts: both devices ask for work while the server thinks they are busy.
    for (const id of ids) expect((await app.scheduler.claim(id, 0)).batch, id).not.toBeNull();
  });

  it('keeps one BrowserStack upload per account: agents on another account upload their own', async () => {
    await browserstackBuildWithJobs('apk for two accounts');
    const one = await app.scheduler.register({
      name: 'h1',
      devices: [{ name: 'bs', target: 'browserstack' }],
      browserstack: { account: 'team-a', parallel_limit: 5 },
    });
    const two = await app.scheduler.register({
      name: 'h2',
      devices: [{ name: 'bs', target: 'browserstack' }],
      browserstack: { account: 'team-b', parallel_limit: 5 },
    });
    const a = (await app.scheduler.claim(one.devices[0]?.id as string, 0)).batch as Batch;
    const b = (await app.scheduler.claim(two.devices[0]?.id as string, 0)).batch as Batch;
    const ask = (id: string) => app.http.inject({ method: 'POST', url: `/v1/batches/${id}/browserstack-app` });
    expect((await ask(a.id)).json().state).toBe('upload');
    expect((await ask(b.id)).json().state).toBe('upload');
    for (const [batch, url] of [
      [a, 'bs://for-team-a'],
      [b, 'bs://for-team-b'],
    ] as const) {
      await app.http.inject({
        method: 'PUT',
        url: `/v1/batches/${batch.id}/browserstack-app`,
        payload: { browserstack_url: url },
      });
    }
    expect((await ask(a.id)).json().browserstack_url).toBe('bs://for-team-a');
    expect((await ask(b.id)).json().browserstack_url).toBe('bs://for-team-b');
    const build = (await app.http.inject({ method: 'GET', url: '/v1/apps?org_id=acme&app_version_id=v1' })).json();
    expect(build.browserstack.map((u: { account: string; url: string }) => [u.account, u.url])).toEqual([
      ['team-a', 'bs://for-team-a'],
      ['team-b', 'bs://for-team-b'],
    ]);
  });

  it('answers 400 naming url for URLs the schema lets through but no parser takes', async () => {
    for (const url of ['http://a:99999/x.apk', 'http://[::1/x.apk']) {
      const res = await app.http.inject({
        method: 'POST',
        url: '/v1/apps',
        payload: { org_id: 'acme', app_version_id: 'v9', url },
      });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.field).toBe('url');
    }
  });

  it('ends a job at once on a final infrastructure error (a refused bundle), without retries', async () => {
    const submitted = await app.queue.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['t.spec.js'] });
    const [device] = (await app.scheduler.register({ name: 'h', devices: [{ name: 'e1', target: 'emulator' }] }))
      .devices;
    const batch = (await app.scheduler.claim(device?.id as string, 0)).batch as Batch;
    const jobId = submitted.response.jobs[0]?.id as string;
    await app.scheduler.report(batch.id, {
      events: [
        { type: 'start', job_id: jobId },
        { type: 'finish', job_id: jobId, status: 'errored', error: 'test bundle x: unpack refused', final: true },
      ],
      done: { unstarted: [] },
    });
    const job = await app.queue.getJob(jobId);
    expect(job.status).toBe('errored');
    expect(job.error).toBe('test bundle x: unpack refused');
    expect(job.runs).toHaveLength(1);
  });

  it('collects builds and blobs nothing used within the retention, keeping what unfinished jobs need', async () => {
    await app.http.close();
    await start({ retentionMs: 1 });
    const kept = Buffer.from('bundle of a queued job');
    const unused = Buffer.from('bundle nobody uses');
    const apk = Buffer.from('old build');
    await put(sha(kept), kept);
    await put(sha(unused), unused);
    await put(sha(unused), unused, 'org_id=globex&kind=bundle');
    await put(sha(apk), apk, 'org_id=acme&kind=app');
    await app.artifacts.registerApp({ org_id: 'acme', app_version_id: 'old', sha256: sha(apk) });
    await app.queue.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['t.spec.js'], bundle_sha256: sha(kept) });
    await new Promise((r) => setTimeout(r, 20));
    const result = await app.artifacts.collectGarbage();
    expect(result).toMatchObject({ builds: 1, blobs: 3, files: 2 });
    const has = async (data: Buffer, org = 'acme') =>
      (await app.http.inject({ method: 'HEAD', url: `/v1/blobs/${sha(data)}?org_id=${org}` })).statusCode;
    expect(await has(kept)).toBe(200);
    expect(await has(unused)).toBe(404);
    expect(await has(unused, 'globex')).toBe(404);
    expect(await has(apk)).toBe(404);
    expect(await files(blobDir)).toEqual([sha(kept)]);
    expect((await app.http.inject({ method: 'GET', url: '/v1/apps?org_id=acme&app_version_id=old' })).statusCode).toBe(
      404,
    );
  });
});
