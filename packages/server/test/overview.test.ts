/**
 * The farm overview (`GET /v1/overview`, `GET /v1/agents`), its event stream
 * (`GET /v1/events`) and the dashboard page, on every store adapter.
 */
import type { AgentList, Batch, Overview, RegisterResponse, SubmitResponse } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';
import { STREAM_TIMING } from '../src/routes/dashboard.js';
import { OverviewService } from '../src/services/overview.js';

const ADMIN = 'admin-secret-for-tests-0123456789';

/** Reads Server-Sent Events off a fetch response, one `{ event, data }` at a time. */
function sseReader(res: Response) {
  if (!res.body) throw new Error('no body');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return async function next(): Promise<{ event: string; data: string } | null> {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split('\n');
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
        if (event) return { event, data: data.join('\n') };
        continue; // retry: and comments
      }
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += value;
    }
  };
}

describe.each(adapters)('farm overview on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, token?: string) =>
    app.http.inject({
      method,
      url,
      payload: payload as object,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const overview = async (token?: string) => {
    const res = await call('GET', '/v1/overview', undefined, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Overview>();
  };
  const submit = async (org: string, version: string, tests: string[], token?: string, target = 'emulator') => {
    const res = await call('POST', '/v1/jobs', { org_id: org, app_version_id: version, tests, target }, token);
    expect(res.statusCode, res.body).toBe(201);
    return res.json<SubmitResponse>();
  };
  const register = async (name: string, devices: string[], token?: string) => {
    const res = await call(
      'POST',
      '/v1/agents/register',
      { name, devices: devices.map((d) => ({ name: d, target: 'emulator' })) },
      token,
    );
    expect(res.statusCode, res.body).toBe(200);
    return res.json<RegisterResponse>();
  };
  const claim = async (deviceId: string, token?: string) => {
    const res = await call('POST', `/v1/devices/${deviceId}/claim?wait_ms=0`, undefined, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ batch: Batch | null }>().batch;
  };

  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  describe('open', () => {
    beforeEach(async () => {
      store = await adapter.open();
      app = await buildApp({ db: store.db });
    });

    it('shows the queue per group, from an empty farm on', async () => {
      expect(await overview()).toEqual({
        queues: [],
        agents: [],
        recent_runs: [],
        installs: { made: 0, avoided: 0 },
        totals: { queued: 0, running: 0, passed: 0, failed: 0, errored: 0, cancelled: 0 },
      });
      await submit('acme', 'v1', ['t/a.js', 't/b.js', 't/c.js']);
      await submit('acme', 'v2', ['t/a.js']);
      await submit('globex', 'g1', ['t/a.js', 't/b.js'], undefined, 'browserstack');
      const o = await overview();
      expect(o.queues.map((g) => [g.org_id, g.app_version_id, g.target, g.queued])).toEqual([
        ['acme', 'v1', 'emulator', 3],
        ['acme', 'v2', 'emulator', 1],
        ['globex', 'g1', 'browserstack', 2],
      ]);
      for (const g of o.queues) expect(g.oldest_wait_ms).toBeGreaterThanOrEqual(0);
      expect(o.totals).toEqual({ queued: 6, running: 0, passed: 0, failed: 0, errored: 0, cancelled: 0 });
    });

    it('shows a claimed batch: its device busy with the group, warm builds, runs and installs', async () => {
      const sub = await submit('acme', 'v1', ['t/a.js', 't/b.js']);
      await submit('acme', 'v2', ['t/c.js']);
      const agent = await register('lab-1', ['e1', 'e2']);
      const e1 = agent.devices.find((d) => d.name === 'e1');
      const batch = await claim(e1?.id ?? '');
      expect(batch).toMatchObject({ org_id: 'acme', install: true });
      if (!batch) throw new Error('no batch');
      const [first, second] = batch.jobs;
      if (!first) throw new Error('empty batch');
      // The first run installs, the second finds the build there.
      const events: object[] = [
        { type: 'install', ok: true, duration_ms: 10 },
        { type: 'start', job_id: first.id },
        { type: 'finish', job_id: first.id, status: 'passed', duration_ms: 120 },
      ];
      const report = await call('POST', `/v1/batches/${batch.id}/report`, { events });
      expect(report.statusCode, report.body).toBe(200);
      if (second) {
        const next = await call('POST', `/v1/batches/${batch.id}/report`, {
          events: [{ type: 'start', job_id: second.id }],
        });
        expect(next.statusCode, next.body).toBe(200);
      }

      const o = await overview();
      expect(o.agents).toHaveLength(1);
      expect(o.agents[0]).toMatchObject({ name: 'lab-1' });
      const devices = Object.fromEntries((o.agents[0]?.devices ?? []).map((d) => [d.name, d]));
      expect(devices.e1).toMatchObject({
        state: 'busy',
        target: 'emulator',
        batch_id: batch.id,
        org_id: 'acme',
        app_version_id: batch.app_version_id,
        warm: [{ org_id: 'acme', app_version_id: batch.app_version_id }],
      });
      expect(devices.e2).toMatchObject({ state: 'idle', batch_id: null, org_id: null, app_version_id: null, warm: [] });
      // The claimed group left the queue; the other group waits.
      const left = o.queues.map((g) => `${g.app_version_id}:${g.queued}`);
      expect(left).toEqual(batch.app_version_id === 'v1' ? ['v2:1'] : ['v1:2']);
      // Runs, newest first, with their job's test and group.
      expect(o.recent_runs.map((r) => [r.test_path, r.status, r.app_installed, r.n])).toEqual(
        [second ? [second.test_path, 'running', false, 1] : undefined, [first.test_path, 'passed', true, 1]].filter(
          Boolean,
        ),
      );
      expect(o.recent_runs.at(-1)).toMatchObject({
        job_id: first.id,
        org_id: 'acme',
        target: 'emulator',
        agent: 'lab-1',
        device: 'e1',
        batch_id: batch.id,
        duration_ms: 120,
        error: null,
      });
      expect(o.installs).toEqual({ made: 1, avoided: 0 });
      expect(o.totals).toMatchObject({ passed: 1, running: batch.jobs.length - 1 });
      expect(sub.jobs.length + 1).toBe(o.totals.queued + o.totals.running + o.totals.passed);

      const agents = await call('GET', '/v1/agents');
      expect(agents.statusCode).toBe(200);
      expect(agents.json<AgentList>()).toEqual({ agents: o.agents });
    });

    it('streams an overview event at once, another when the farm changes, and ends on close', async () => {
      await submit('acme', 'v1', ['t/a.js']);
      const url = await app.http.listen({ port: 0, host: '127.0.0.1' });
      const started = performance.now();
      const res = await fetch(`${url}/v1/events`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const next = sseReader(res);
      const first = await next();
      const firstMs = performance.now() - started;
      expect(first?.event).toBe('overview');
      expect(JSON.parse(first?.data ?? '{}').totals.queued).toBe(1);
      expect(firstMs).toBeLessThan(1000);
      await submit('acme', 'v1', ['t/b.js']);
      let queued = 1;
      while (queued !== 2) {
        const e = await next();
        expect(e?.event).toBe('overview');
        queued = JSON.parse(e?.data ?? '{}').totals.queued;
      }
      // Closing the server ends the stream instead of waiting for the client to go.
      const closing = performance.now();
      await app.http.close();
      expect(performance.now() - closing).toBeLessThan(3000);
      expect(await next()).toBeNull();
    });

    it('shares one read of the overview between the streams of one scope', async () => {
      const service = new OverviewService(store.db);
      const all = service.sharedOverview(undefined);
      expect(service.sharedOverview(undefined)).toBe(all);
      const acme = service.sharedOverview('acme');
      expect(acme).not.toBe(all);
      expect(service.sharedOverview('acme')).toBe(acme);
      await Promise.all([all, acme]);
      await new Promise((r) => setTimeout(r, 600));
      expect(service.sharedOverview(undefined)).not.toBe(all);
    });

    it('serves the dashboard page with a policy allowing its own script and style', async () => {
      const page = await call('GET', '/');
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('/dashboard/app.js');
      const csp = String(page.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain("default-src 'none'");
      expect(page.headers['x-frame-options']).toBe('DENY');
      for (const [file, type] of [
        ['app.js', /^text\/javascript/],
        ['dom.js', /^text\/javascript/],
        ['panel.js', /^text\/javascript/],
        ['app.css', /^text\/css/],
      ] as const) {
        const asset = await call('GET', `/dashboard/${file}`);
        expect(asset.statusCode).toBe(200);
        expect(asset.headers['content-type']).toMatch(type);
        const again = await app.http.inject({
          method: 'GET',
          url: `/dashboard/${file}`,
          headers: { 'if-none-match': String(asset.headers.etag) },
        });
        expect(again.statusCode).toBe(304);
      }
      expect((await call('GET', '/dashboard/..%2Fapp.ts')).statusCode).toBe(404);
      expect((await call('GET', '/dashboard/nope.js')).statusCode).toBe(404);
      // API answers keep the strict policy.
      expect((await call('GET', '/v1/overview')).headers['content-security-policy']).toContain("default-src 'none'");
    });
  });

  describe('with tokens', () => {
    const tokens: Record<'a' | 'b' | 'agent', string> = { a: '', b: '', agent: '' };

    beforeEach(async () => {
      store = await adapter.open();
      app = await buildApp({ db: store.db, auth: { mode: 'tokens', adminToken: ADMIN } });
      const make = async (body: object) => (await call('POST', '/v1/tokens', body, ADMIN)).json<{ token: string }>();
      tokens.a = (await make({ kind: 'org', org_id: 'org-a', name: 'a-ci' })).token;
      tokens.b = (await make({ kind: 'org', org_id: 'org-b', name: 'b-ci' })).token;
      tokens.agent = (await make({ kind: 'agent', name: 'lab' })).token;
    });

    it("lets an org see only its own queue, runs and totals, and no detail of another org's batch", async () => {
      await submit('org-a', 'a1', ['t/1.js', 't/2.js'], tokens.a);
      await submit('org-b', 'b1', ['t/1.js'], tokens.b);
      const agent = await register('lab', ['e1', 'e2'], tokens.agent);
      // Each device takes one org's group (fairness spreads the orgs).
      const batches = [];
      for (const d of agent.devices) batches.push(await claim(d.id, tokens.agent));
      const byOrg = Object.fromEntries(batches.map((b) => [b?.org_id, b]));
      expect(Object.keys(byOrg).sort()).toEqual(['org-a', 'org-b']);
      for (const b of batches) {
        if (!b?.jobs[0]) throw new Error('no batch');
        const events = [
          { type: 'install', ok: true },
          { type: 'start', job_id: b.jobs[0].id },
        ];
        expect((await call('POST', `/v1/batches/${b.id}/report`, { events }, tokens.agent)).statusCode).toBe(200);
      }

      const all = await overview(ADMIN);
      expect(all.recent_runs.map((r) => r.org_id).sort()).toEqual(['org-a', 'org-b']);
      expect(all.installs.made).toBe(2);

      const a = await overview(tokens.a);
      expect(a.recent_runs.map((r) => r.org_id)).toEqual(['org-a']);
      expect(a.queues.every((g) => g.org_id === 'org-a')).toBe(true);
      expect(a.totals.running).toBe(byOrg['org-a']?.jobs.length);
      expect(a.installs).toEqual({ made: 1, avoided: 0 });
      const devices = a.agents.flatMap((x) => x.devices);
      expect(devices).toHaveLength(2);
      expect(devices.every((d) => d.state === 'busy')).toBe(true);
      const mine = devices.find((d) => d.batch_id === byOrg['org-a']?.id);
      expect(mine).toMatchObject({ org_id: 'org-a', warm: [{ org_id: 'org-a', app_version_id: 'a1' }] });
      const theirs = devices.find((d) => d !== mine);
      expect(theirs).toMatchObject({ batch_id: null, org_id: null, app_version_id: null, warm: [] });
      expect(JSON.stringify(a)).not.toContain('org-b');
      const listed = (await call('GET', '/v1/agents', undefined, tokens.a)).json<AgentList>();
      expect(JSON.stringify(listed)).not.toContain('org-b');
      expect(listed.agents.flatMap((x) => x.devices)).toEqual(devices);
    });

    it('refuses agent tokens (403) and callers without a token (401) on every overview route', async () => {
      for (const url of ['/v1/overview', '/v1/agents', '/v1/events']) {
        expect((await call('GET', url, undefined, tokens.agent)).statusCode, url).toBe(403);
        expect((await call('GET', url)).statusCode, url).toBe(401);
      }
      // The page itself holds no data: it loads without a token and asks for one.
      expect((await call('GET', '/')).statusCode).toBe(200);
    });

    it('keeps a quiet stream alive with comments, and ends it once its token is revoked', async () => {
      const saved = { ...STREAM_TIMING };
      Object.assign(STREAM_TIMING, { tickMs: 50, heartbeatMs: 200, reauthMs: 300 });
      try {
        const made = (await call('POST', '/v1/tokens', { kind: 'org', org_id: 'org-a', name: 'watch' }, ADMIN)).json<{
          id: string;
          token: string;
        }>();
        const url = await app.http.listen({ port: 0, host: '127.0.0.1' });
        const res = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${made.token}` } });
        expect(res.status).toBe(200);
        if (!res.body) throw new Error('no body');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let text = '';
        while (!text.includes(': heartbeat')) {
          const { value, done } = await reader.read();
          if (done) throw new Error('the stream ended early');
          text += value;
        }
        expect(text.match(/event: overview/g)).toHaveLength(1);
        const revoked = performance.now();
        expect((await call('POST', `/v1/tokens/${made.id}/revoke`, undefined, ADMIN)).statusCode).toBe(200);
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
        }
        expect(performance.now() - revoked).toBeLessThan(2000);
      } finally {
        Object.assign(STREAM_TIMING, saved);
      }
    });

    it("streams an org's own overview to its token", async () => {
      await submit('org-a', 'a1', ['t/1.js'], tokens.a);
      await submit('org-b', 'b1', ['t/1.js', 't/2.js'], tokens.b);
      const url = await app.http.listen({ port: 0, host: '127.0.0.1' });
      const stop = new AbortController();
      const res = await fetch(`${url}/v1/events`, {
        headers: { authorization: `Bearer ${tokens.b}` },
        signal: stop.signal,
      });
      const first = await sseReader(res)();
      const o: Overview = JSON.parse(first?.data ?? '{}');
      expect(o.totals.queued).toBe(2);
      expect(o.queues).toEqual([expect.objectContaining({ org_id: 'org-b', queued: 2 })]);
      stop.abort();
    });
  });
});
