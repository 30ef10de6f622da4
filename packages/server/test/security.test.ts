/**
 * Every /v1 route × every kind of caller: the intended status, and no rejected request
 * changes a row. Then the limits: rate, queued cap, device cap, headers.
 */
import { createHash } from 'node:crypto';
import type { Batch, SubmitResponse } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteAdapter, type TestDb } from '../../../tests/helpers/db.js';

const ADMIN = 'admin-secret-for-tests-0123456789';
const TABLES = [
  'jobs',
  'runs',
  'submissions',
  'idempotency_keys',
  'agents',
  'devices',
  'device_apps',
  'batches',
  'tokens',
  'blobs',
  'app_builds',
  'device_pools',
  'run_artifacts',
];

type Method = 'GET' | 'POST' | 'PUT';
type Cred = 'none' | 'bad' | 'revoked' | 'expired' | 'otherOrg' | 'ownOrg' | 'agent' | 'otherAgent' | 'admin';
type Route =
  | 'submit'
  | 'list'
  | 'get'
  | 'cancel'
  | 'submission'
  | 'register'
  | 'claim'
  | 'report'
  | 'createToken'
  | 'listTokens'
  | 'revokeToken'
  | 'jobLogs'
  | 'sendLogs'
  | 'overview'
  | 'agents'
  | 'getBlob'
  | 'putBlob'
  | 'registerApp'
  | 'getApp'
  | 'browserstackApp'
  | 'browserstackResult'
  | 'putArtifact'
  | 'listArtifacts'
  | 'getArtifact';

// The intended answer of each route to each caller (401 for none/bad/revoked/expired everywhere).
const EXPECTED: Record<Route, Record<'otherOrg' | 'ownOrg' | 'agent' | 'otherAgent' | 'admin', number>> = {
  submit: { otherOrg: 403, ownOrg: 201, agent: 403, otherAgent: 403, admin: 201 },
  list: { otherOrg: 403, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  get: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  cancel: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  submission: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  register: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 403, admin: 200 },
  claim: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  report: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  createToken: { otherOrg: 403, ownOrg: 403, agent: 403, otherAgent: 403, admin: 201 },
  listTokens: { otherOrg: 403, ownOrg: 403, agent: 403, otherAgent: 403, admin: 200 },
  revokeToken: { otherOrg: 403, ownOrg: 403, agent: 403, otherAgent: 403, admin: 200 },
  jobLogs: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  sendLogs: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  // An org sees only its own org in these (checked in overview.test.ts); agents see nothing.
  overview: { otherOrg: 200, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  agents: { otherOrg: 200, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  // Agents fetch the builds and bundles of any org's batches; orgs see only their own blobs.
  getBlob: { otherOrg: 404, ownOrg: 200, agent: 200, otherAgent: 200, admin: 200 },
  putBlob: { otherOrg: 403, ownOrg: 201, agent: 403, otherAgent: 403, admin: 201 },
  registerApp: { otherOrg: 403, ownOrg: 201, agent: 403, otherAgent: 403, admin: 201 },
  getApp: { otherOrg: 403, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  browserstackApp: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  browserstackResult: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  // Agents upload the files their runs left; only the job's org (and admins) read them.
  putArtifact: { otherOrg: 403, ownOrg: 403, agent: 200, otherAgent: 404, admin: 200 },
  listArtifacts: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
  getArtifact: { otherOrg: 404, ownOrg: 200, agent: 403, otherAgent: 403, admin: 200 },
};
// GET /v1/events (the same data as /v1/overview, as a stream) is covered in overview.test.ts.

describe('credentials and isolation', () => {
  let store: TestDb;
  let app: App;
  const tokens = {} as Record<Cred, string | undefined>;
  let n = 0;

  const call = (method: Method, url: string, token: string | undefined, payload?: unknown) =>
    app.http.inject({
      method,
      url,
      payload: payload as object,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(Buffer.isBuffer(payload) ? { 'content-type': 'application/octet-stream' } : {}),
      },
    });

  /** Fresh rows for one request: a queued job and submission of org-a, an agent with a device holding a batch. */
  async function fixture() {
    n++;
    const sub = (
      await call('POST', '/v1/jobs', ADMIN, {
        org_id: 'org-a',
        app_version_id: 'read',
        target: 'device',
        test_path: `t/${n}.js`,
      })
    ).json<SubmitResponse>();
    const agentName = `agent-${n}`;
    const build = Buffer.from(`build ${n}`);
    const buildSha = createHash('sha256').update(build).digest('hex');
    await call('PUT', `/v1/blobs/${buildSha}?org_id=org-a&kind=app`, ADMIN, build);
    await call('POST', '/v1/apps', ADMIN, { org_id: 'org-a', app_version_id: `bs${n}`, sha256: buildSha });
    await call('POST', '/v1/jobs', ADMIN, {
      org_id: 'org-a',
      app_version_id: `bs${n}`,
      target: 'browserstack',
      test_path: 't/bs.js',
    });
    const reg = (
      await call('POST', '/v1/agents/register', tokens.agent, {
        name: agentName,
        devices: [
          { name: 'e1', target: 'emulator' },
          { name: 'b1', target: 'browserstack' },
        ],
      })
    ).json<{ devices: { id: string; target: string }[] }>();
    const deviceId = reg.devices.find((d) => d.target === 'emulator')?.id as string;
    const bsDeviceId = reg.devices.find((d) => d.target === 'browserstack')?.id as string;
    const bsBatch = (await call('POST', `/v1/devices/${bsDeviceId}/claim?wait_ms=0`, tokens.agent)).json<{
      batch: Batch;
    }>().batch;
    await call('POST', '/v1/jobs', ADMIN, { org_id: 'org-a', app_version_id: `b${n}`, test_path: 't/batch.js' });
    const batch = (await call('POST', `/v1/devices/${deviceId}/claim?wait_ms=0`, tokens.agent)).json<{ batch: Batch }>()
      .batch;
    const batchJobId = batch.jobs[0]?.id as string;
    // The batch's job runs and has left a file.
    await call('POST', `/v1/batches/${batch.id}/report`, tokens.agent, {
      events: [{ type: 'start', job_id: batchJobId }],
    });
    await call(
      'PUT',
      `/v1/batches/${batch.id}/artifacts?job_id=${batchJobId}&name=shot.png`,
      ADMIN,
      Buffer.from(`${n}`),
    );
    const spare = (await call('POST', '/v1/tokens', ADMIN, { kind: 'agent', name: `spare-${n}` })).json<{
      id: string;
    }>();
    return {
      jobId: sub.jobs[0]?.id as string,
      submissionId: sub.submission_id,
      agentName,
      deviceId,
      batchId: batch.id,
      batchJobId,
      spareTokenId: spare.id,
      buildSha,
      bsBatchId: bsBatch.id,
    };
  }

  function request(route: Route, fx: Awaited<ReturnType<typeof fixture>>): [Method, string, unknown?] {
    switch (route) {
      case 'submit':
        return ['POST', '/v1/jobs', { org_id: 'org-a', app_version_id: 'new', test_path: `t/new-${n}.js` }];
      case 'list':
        return ['GET', '/v1/jobs?org_id=org-a'];
      case 'get':
        return ['GET', `/v1/jobs/${fx.jobId}`];
      case 'cancel':
        return ['POST', `/v1/jobs/${fx.jobId}/cancel`];
      case 'submission':
        return ['GET', `/v1/submissions/${fx.submissionId}`];
      case 'register':
        return ['POST', '/v1/agents/register', { name: fx.agentName, devices: [{ name: 'e1', target: 'emulator' }] }];
      case 'claim':
        return ['POST', `/v1/devices/${fx.deviceId}/claim?wait_ms=0`];
      case 'report':
        return ['POST', `/v1/batches/${fx.batchId}/report`, { events: [] }];
      case 'createToken':
        return ['POST', '/v1/tokens', { kind: 'org', org_id: 'org-c', name: 'made' }];
      case 'listTokens':
        return ['GET', '/v1/tokens'];
      case 'revokeToken':
        return ['POST', `/v1/tokens/${fx.spareTokenId}/revoke`];
      case 'jobLogs':
        return ['GET', `/v1/jobs/${fx.jobId}/logs`];
      case 'sendLogs':
        return [
          'POST',
          `/v1/batches/${fx.batchId}/logs`,
          { chunks: [{ job_id: fx.batchJobId, stream: 'stdout', text: 'x' }] },
        ];
      case 'overview':
        return ['GET', '/v1/overview'];
      case 'agents':
        return ['GET', '/v1/agents'];
      case 'getBlob':
        return ['GET', `/v1/blobs/${fx.buildSha}`];
      case 'putBlob': {
        const data = Buffer.from(`bundle ${n}`);
        return ['PUT', `/v1/blobs/${createHash('sha256').update(data).digest('hex')}?org_id=org-a&kind=bundle`, data];
      }
      case 'registerApp':
        return ['POST', '/v1/apps', { org_id: 'org-a', app_version_id: `new${n}`, sha256: fx.buildSha }];
      case 'getApp':
        return ['GET', `/v1/apps?org_id=org-a&app_version_id=bs${n}`];
      case 'browserstackApp':
        return ['POST', `/v1/batches/${fx.bsBatchId}/browserstack-app`];
      case 'browserstackResult':
        return ['PUT', `/v1/batches/${fx.bsBatchId}/browserstack-app`, { browserstack_url: `bs://${n}` }];
      case 'putArtifact':
        return ['PUT', `/v1/batches/${fx.batchId}/artifacts?job_id=${fx.batchJobId}&name=t/${n}.txt`, Buffer.from('x')];
      case 'listArtifacts':
        return ['GET', `/v1/jobs/${fx.batchJobId}/artifacts`];
      case 'getArtifact':
        return ['GET', `/v1/jobs/${fx.batchJobId}/runs/1/artifacts/shot.png`];
    }
  }

  async function snapshot(): Promise<string> {
    const parts: string[] = [];
    for (const t of TABLES) {
      const { rows } = await store.db.query<{ h: string | null }>(
        `SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`,
      );
      parts.push(`${t}:${rows[0]?.h}`);
    }
    return parts.join(' ');
  }

  beforeAll(async () => {
    store = await pgliteAdapter.open();
    app = await buildApp({
      db: store.db,
      auth: { mode: 'tokens', adminToken: ADMIN },
      limits: { submitsPerSecond: 10_000, readsPerSecond: 10_000 },
    });
    const make = async (body: object) =>
      (await call('POST', '/v1/tokens', ADMIN, body)).json<{ token: string; id: string }>();
    tokens.none = undefined;
    tokens.bad = 'qgjob_tok_00000000000000000000000000_notarealsecretnotarealsecret';
    tokens.ownOrg = (await make({ kind: 'org', org_id: 'org-a', name: 'a-ci' })).token;
    tokens.otherOrg = (await make({ kind: 'org', org_id: 'org-b', name: 'b-ci' })).token;
    tokens.agent = (await make({ kind: 'agent', name: 'lab-1' })).token;
    tokens.otherAgent = (await make({ kind: 'agent', name: 'lab-2' })).token;
    tokens.admin = ADMIN;
    const revoked = await make({ kind: 'org', org_id: 'org-a', name: 'old' });
    await call('POST', `/v1/tokens/${revoked.id}/revoke`, ADMIN);
    tokens.revoked = revoked.token;
    const expiring = await make({ kind: 'org', org_id: 'org-a', name: 'short', expires_in_s: 60 });
    await store.db.query(`UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id]);
    tokens.expired = expiring.token;
  });
  afterAll(async () => {
    await app.http.close();
    await store.drop();
  });

  const routes = Object.keys(EXPECTED) as Route[];
  const creds: Cred[] = ['none', 'bad', 'revoked', 'expired', 'otherOrg', 'ownOrg', 'agent', 'otherAgent', 'admin'];
  for (const route of routes) {
    it(`${route}: each caller gets the intended status; rejected calls change nothing`, async () => {
      const seen: Record<string, number> = {};
      for (const cred of creds) {
        const fx = await fixture();
        const [method, url, payload] = request(route, fx);
        const expected = cred in EXPECTED[route] ? EXPECTED[route][cred as keyof (typeof EXPECTED)[Route]] : 401;
        const before = expected >= 400 ? await snapshot() : '';
        const res = await call(method, url, tokens[cred], payload);
        seen[cred] = res.statusCode;
        if (expected >= 400) {
          expect(res.json<{ error: { code: string } }>().error.code).toMatch(/^(unauthorized|forbidden|not_found)$/);
          expect(await snapshot(), `${route} as ${cred} changed rows`).toBe(before);
        }
      }
      const want = Object.fromEntries(
        creds.map((c) => [c, c in EXPECTED[route] ? EXPECTED[route][c as keyof (typeof EXPECTED)[Route]] : 401]),
      );
      expect(seen).toEqual(want);
    });
  }

  it('says why a token is refused, and never echoes it', async () => {
    const missing = await call('GET', '/v1/jobs', undefined);
    expect(missing.json().error.message).toMatch(/missing token/);
    const revoked = await call('GET', '/v1/jobs', tokens.revoked);
    expect(revoked.json().error.message).toMatch(/revoked/);
    expect(revoked.body).not.toContain(tokens.revoked as string);
    expect((await call('GET', '/v1/jobs', tokens.expired)).json().error.message).toMatch(/expired/);
  });

  it('lists tokens without their secrets', async () => {
    const res = await call('GET', '/v1/tokens', ADMIN);
    expect(res.body).not.toMatch(/qgjob_tok_/);
    expect(res.body).not.toContain('secret_hash');
  });

  it('sets security headers on API answers', async () => {
    const res = await call('GET', '/v1/jobs', tokens.ownOrg);
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    });
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });
});

describe('limits', () => {
  it('rate-limits one org with 429 and Retry-After while another org goes on', async () => {
    const store = await pgliteAdapter.open();
    const app = await buildApp({
      db: store.db,
      auth: { mode: 'tokens', adminToken: ADMIN },
      limits: { submitsPerSecond: 2 },
    });
    try {
      const token = async (org: string) =>
        (
          await app.http.inject({
            method: 'POST',
            url: '/v1/tokens',
            headers: { authorization: `Bearer ${ADMIN}` },
            payload: { kind: 'org', org_id: org, name: 'ci' },
          })
        ).json<{ token: string }>().token;
      const a = await token('flood');
      const b = await token('calm');
      const submit = (t: string, org: string, i: number) =>
        app.http.inject({
          method: 'POST',
          url: '/v1/jobs',
          headers: { authorization: `Bearer ${t}` },
          payload: { org_id: org, app_version_id: 'v', test_path: `t${i}.js` },
        });
      const flood = [];
      for (let i = 0; i < 10; i++) flood.push(await submit(a, 'flood', i));
      const limited = flood.filter((r) => r.statusCode === 429);
      expect(flood.filter((r) => r.statusCode === 201)).toHaveLength(4); // the burst: twice the rate
      expect(limited).toHaveLength(6);
      expect(Number(limited[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(limited[0]?.json().error.code).toBe('rate_limited');
      expect((await submit(b, 'calm', 0)).statusCode).toBe(201);
    } finally {
      await app.http.close();
      await store.drop();
    }
  });

  it('caps queued jobs per org', async () => {
    const store = await pgliteAdapter.open();
    const app = await buildApp({ db: store.db, limits: { maxQueuedPerOrg: 5 } });
    try {
      const tests = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}.js`);
      expect(
        (await app.queue.submit({ org_id: 'a', app_version_id: 'v', tests: tests(4, 'x') })).response.jobs,
      ).toHaveLength(4);
      await expect(app.queue.submit({ org_id: 'a', app_version_id: 'v', tests: tests(2, 'y') })).rejects.toMatchObject({
        code: 'queue_full',
      });
      expect(
        (await app.queue.submit({ org_id: 'b', app_version_id: 'v', tests: tests(5, 'z') })).response.jobs,
      ).toHaveLength(5);
    } finally {
      await app.http.close();
      await store.drop();
    }
  });

  it('caps the devices one org keeps busy', async () => {
    const store = await pgliteAdapter.open();
    const app = await buildApp({ db: store.db, scheduler: { maxDevicesPerOrg: 1 } });
    try {
      await app.queue.submit({ org_id: 'a', app_version_id: 'v1', tests: ['1.js'] });
      await app.queue.submit({ org_id: 'a', app_version_id: 'v2', tests: ['2.js'] });
      const reg = await app.scheduler.register({
        name: 'h',
        devices: [
          { name: 'e1', target: 'emulator' },
          { name: 'e2', target: 'emulator' },
        ],
      });
      const [d1, d2] = reg.devices.map((d) => d.id) as [string, string];
      expect((await app.scheduler.claim(d1, 0)).batch?.org_id).toBe('a');
      expect((await app.scheduler.claim(d2, 0)).batch).toBeNull();
      await app.queue.submit({ org_id: 'b', app_version_id: 'v1', tests: ['3.js'] });
      expect((await app.scheduler.claim(d2, 0)).batch?.org_id).toBe('b');
    } finally {
      await app.http.close();
      await store.drop();
    }
  });
});
