/**
 * What the dashboard draws, checked exactly for a known workload on every store adapter:
 * the device timeline (`GET /v1/timeline`: batches per device, install flags, runs, yields,
 * quarantines, times in order), the trends (`GET /v1/trends`) and a submission's page
 * (`GET /v1/submissions/{id}/runs`, failures first).
 */
import type {
  Batch,
  RegisterResponse,
  SubmissionRuns,
  SubmitResponse,
  Timeline,
  TimelineBatch,
  Trends,
} from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';
import { locationOf } from '../src/services/submission-page.js';
import { TrendService } from '../src/services/trends.js';

const ADMIN = 'admin-secret-for-tests-0123456789';

describe.each(adapters)('timeline, trends and submission pages on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  const call = async (method: 'GET' | 'POST', url: string, payload?: unknown, token?: string) =>
    app.http.inject({
      method,
      url,
      payload: payload as object,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const ok = async <T>(method: 'GET' | 'POST', url: string, payload?: unknown, token?: string): Promise<T> => {
    const res = await call(method, url, payload, token);
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json<T>();
  };
  const submit = (org: string, version: string, tests: string[], token?: string) =>
    ok<SubmitResponse>('POST', '/v1/jobs', { org_id: org, app_version_id: version, tests }, token);
  const claim = async (deviceId: string, token?: string) => {
    const batch = (
      await ok<{ batch: Batch | null }>('POST', `/v1/devices/${deviceId}/claim?wait_ms=0`, undefined, token)
    ).batch;
    if (!batch) throw new Error('no batch');
    return batch;
  };
  const report = (batch: Batch, events: object[], done = false, token?: string) =>
    ok<{ yield: boolean }>(
      'POST',
      `/v1/batches/${batch.id}/report`,
      done ? { events, done: { unstarted: [] } } : { events },
      token,
    );
  const jobOf = (batch: Batch, path: string) => {
    const job = batch.jobs.find((j) => j.test_path === path);
    if (!job) throw new Error(`${path} is not in the batch`);
    return job.id;
  };

  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  /**
   * e1 runs acme/v1 (installs; a passes, b fails), then acme/v1 again (no install; d passes);
   * e2 runs globex/g1 (installs; c starts), is drained (told to yield), then e3 fails to start
   * a batch and is quarantined.
   */
  async function workload(tokens?: { agent: string; acme: string; globex: string }) {
    const acme = await submit('acme', 'v1', ['t/a.js', 't/b.js'], tokens?.acme);
    const agent = await ok<RegisterResponse>(
      'POST',
      '/v1/agents/register',
      { name: 'lab-1', devices: ['e1', 'e2', 'e3'].map((name) => ({ name, target: 'emulator' })) },
      tokens?.agent,
    );
    const device = (name: string) => agent.devices.find((d) => d.name === name)?.id ?? '';
    const first = await claim(device('e1'), tokens?.agent);
    // One report per event, as an agent sends them while the tests run.
    for (const event of [
      { type: 'install', ok: true, duration_ms: 30 },
      { type: 'start', job_id: jobOf(first, 't/a.js') },
      { type: 'finish', job_id: jobOf(first, 't/a.js'), status: 'passed', duration_ms: 40 },
      { type: 'start', job_id: jobOf(first, 't/b.js') },
      {
        type: 'finish',
        job_id: jobOf(first, 't/b.js'),
        status: 'failed',
        duration_ms: 50,
        error: 'expect(received).toBe(expected)\n    at t/b.js:12:5',
      },
    ]) {
      await report(first, [event], false, tokens?.agent);
    }
    await report(first, [], true, tokens?.agent);
    const again = await submit('acme', 'v1', ['t/d.js'], tokens?.acme);
    const second = await claim(device('e1'), tokens?.agent);
    await report(
      second,
      [
        { type: 'start', job_id: jobOf(second, 't/d.js') },
        { type: 'finish', job_id: jobOf(second, 't/d.js'), status: 'passed', duration_ms: 20 },
      ],
      true,
      tokens?.agent,
    );
    await submit('globex', 'g1', ['t/c.js', 't/e.js'], tokens?.globex);
    const third = await claim(device('e2'), tokens?.agent);
    await report(
      third,
      [
        { type: 'install', ok: true, duration_ms: 30 },
        { type: 'start', job_id: jobOf(third, 't/c.js') },
      ],
      false,
      tokens?.agent,
    );
    await ok('POST', `/v1/devices/${device('e2')}/drain`, undefined, tokens ? ADMIN : undefined);
    const told = await report(third, [], false, tokens?.agent);
    expect(told.yield).toBe(true);
    await submit('globex', 'g2', ['t/f.js'], tokens?.globex);
    const fourth = await claim(device('e3'), tokens?.agent);
    await report(fourth, [{ type: 'unavailable', error: 'device offline' }], true, tokens?.agent);
    return { acme, again, batches: [first, second, third, fourth], device };
  }

  const inOrder = (times: (string | null)[]) => {
    const ms = times.filter((t): t is string => t !== null).map((t) => Date.parse(t));
    expect(ms).toEqual([...ms].sort((a, b) => a - b));
  };
  const shape = (b: TimelineBatch) => ({
    group: b.org_id === null ? null : `${b.org_id}/${b.app_version_id}`,
    install: b.install,
    state: b.state,
    yielded: b.yielded_at !== null,
    runs: b.runs.map((r) => `${r.test_path}:${r.status}`),
  });

  it('draws a lane per device with its batches, installs, runs, yields and quarantines, in time order', async () => {
    store = await adapter.open();
    app = await buildApp({ db: store.db, scheduler: { health: { quarantineAfter: 1 } } });
    const { batches } = await workload();
    const t = await ok<Timeline>('GET', '/v1/timeline?window=15m');
    expect(t.window).toBe('15m');
    expect(t.truncated).toBe(false);
    expect(Date.parse(t.to) - Date.parse(t.from)).toBe(15 * 60_000);
    expect(t.lanes.map((l) => [l.agent, l.device, l.target])).toEqual([
      ['lab-1', 'e1', 'emulator'],
      ['lab-1', 'e2', 'emulator'],
      ['lab-1', 'e3', 'emulator'],
    ]);
    const [e1, e2, e3] = t.lanes;
    expect(e1?.batches.map(shape)).toEqual([
      { group: 'acme/v1', install: true, state: 'done', yielded: false, runs: ['t/a.js:passed', 't/b.js:failed'] },
      { group: 'acme/v1', install: false, state: 'done', yielded: false, runs: ['t/d.js:passed'] },
    ]);
    expect(e2?.batches.map(shape)).toEqual([
      { group: 'globex/g1', install: true, state: 'active', yielded: true, runs: ['t/c.js:running'] },
    ]);
    expect(e3?.batches.map(shape)).toEqual([
      { group: 'globex/g2', install: false, state: 'done', yielded: false, runs: ['t/f.js:errored'] },
    ]);
    expect(t.lanes.flatMap((l) => l.batches.map((b) => b.id))).toEqual(batches.map((b) => b.id));
    expect(e1?.events).toEqual([]);
    expect(e3?.events.map((e) => e.kind)).toEqual(['quarantined']);
    expect(Date.parse(e3?.events[0]?.until ?? '')).toBeGreaterThan(Date.parse(e3?.events[0]?.at ?? ''));
    // Times in order: each batch starts, installs, runs its tests one after another, ends;
    // the device's next batch starts after.
    for (const lane of t.lanes) {
      inOrder(
        lane.batches.flatMap((b) => [
          b.started_at,
          b.install_until,
          ...b.runs.flatMap((r) => [r.started_at, r.finished_at]),
          b.yielded_at,
          b.finished_at,
        ]),
      );
    }
    const [installing] = e2?.batches ?? [];
    expect(installing?.install_until).toBe(installing?.runs[0]?.started_at);
    expect(installing?.finished_at).toBeNull();
    expect(e1?.batches[1]?.install_until).toBeNull();
    expect(e1?.batches[0]?.runs.map((r) => r.duration_ms)).toEqual([40, 50]);

    // A quarantine begun before the window that lasts into it is drawn; one that ended before is not.
    await store.db.query(
      `UPDATE device_events SET at = now() - interval '20 minutes', until = now() + interval '40 minutes'`,
    );
    await store.db.query(
      `INSERT INTO device_events (device_id, kind, at, until)
       SELECT id, 'quarantined', now() - interval '50 minutes', now() - interval '30 minutes' FROM devices
        WHERE name = 'e1'`,
    );
    const later = await ok<Timeline>('GET', '/v1/timeline?window=15m');
    expect(later.lanes.map((l) => [l.device, l.events.map((e) => e.kind)])).toEqual([
      ['e1', []],
      ['e2', []],
      ['e3', ['quarantined']],
    ]);
    const wide = await ok<Timeline>('GET', '/v1/timeline?window=1h');
    expect(wide.lanes.find((l) => l.device === 'e1')?.events.map((e) => e.kind)).toEqual(['quarantined']);
  });

  it("shows an org every device but not another org's batches", async () => {
    store = await adapter.open();
    app = await buildApp({
      db: store.db,
      auth: { mode: 'tokens', adminToken: ADMIN },
      scheduler: { health: { quarantineAfter: 1 } },
    });
    const mint = async (body: object) => (await ok<{ token: string }>('POST', '/v1/tokens', body, ADMIN)).token;
    const tokens = {
      agent: await mint({ kind: 'agent', name: 'lab' }),
      acme: await mint({ kind: 'org', org_id: 'acme', name: 'ci' }),
      globex: await mint({ kind: 'org', org_id: 'globex', name: 'ci' }),
    };
    await workload(tokens);
    const seen = await ok<Timeline>('GET', '/v1/timeline', undefined, tokens.acme);
    expect(seen.window).toBe('1h');
    expect(seen.lanes.map((l) => [l.device, l.batches.map(shape)])).toEqual([
      [
        'e1',
        [
          { group: 'acme/v1', install: true, state: 'done', yielded: false, runs: ['t/a.js:passed', 't/b.js:failed'] },
          { group: 'acme/v1', install: false, state: 'done', yielded: false, runs: ['t/d.js:passed'] },
        ],
      ],
      ['e2', [{ group: null, install: true, state: 'active', yielded: true, runs: [] }]],
      ['e3', [{ group: null, install: false, state: 'done', yielded: false, runs: [] }]],
    ]);
    const others = seen.lanes.filter((l) => l.device !== 'e1').flatMap((l) => l.batches);
    expect(others.map((b) => b.id)).toEqual([null, null]);
    expect((await call('GET', '/v1/timeline', undefined, tokens.agent)).statusCode).toBe(403);
    expect((await call('GET', '/v1/timeline')).statusCode).toBe(401);
    const bad = await call('GET', '/v1/timeline?window=2h', undefined, ADMIN);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/window/);
  });

  it("answers a submission's tests with every run, failures first, with where they failed", async () => {
    store = await adapter.open();
    app = await buildApp({
      db: store.db,
      publicUrl: 'https://qgjob.example.com/',
      scheduler: { health: { quarantineAfter: 1 } },
    });
    const { acme, again } = await workload();
    const page = await ok<SubmissionRuns>('GET', `/v1/submissions/${acme.submission_id}/runs`);
    expect(page).toMatchObject({ id: acme.submission_id, org_id: 'acme' });
    expect(page.url).toBe(`https://qgjob.example.com/submissions/${acme.submission_id}`);
    expect(page.jobs.map((j) => [j.test_path, j.status, j.runs.map((r) => [r.n, r.status, r.device])])).toEqual([
      ['t/b.js', 'failed', [[1, 'failed', 'e1']]],
      ['t/a.js', 'passed', [[1, 'passed', 'e1']]],
    ]);
    expect(page.jobs[0]?.runs[0]).toMatchObject({
      agent: 'lab-1',
      // The batch's first run installed the app; this, its second, found it there.
      app_installed: false,
      duration_ms: 50,
      location: 't/b.js:12:5',
      artifact_count: 0,
    });
    expect(page.jobs[1]?.runs[0]).toMatchObject({ app_installed: true, error: null, location: null });
    const other = await ok<SubmissionRuns>('GET', `/v1/submissions/${again.submission_id}/runs`);
    expect(other.jobs.map((j) => [j.test_path, j.runs[0]?.app_installed])).toEqual([['t/d.js', false]]);
    const missing = await call('GET', '/v1/submissions/sub_nothing/runs');
    expect(missing.statusCode).toBe(404);
    // The submit answer links to the page too.
    const linked = await submit('acme', 'v3', ['t/z.js']);
    expect(linked.url).toBe(`https://qgjob.example.com/submissions/${linked.submission_id}`);
  });

  it('samples the farm per target once an interval, once across replicas, and answers the window', async () => {
    store = await adapter.open();
    app = await buildApp({ db: store.db, scheduler: { health: { quarantineAfter: 1 } } });
    const { batches } = await workload();
    await submit('acme', 'v9', ['t/q1.js', 't/q2.js']);
    // The interval now in progress, sampled when it ends (a row per target); a second replica
    // sampling the same interval writes nothing.
    const end = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
    expect(await new TrendService(store.db, 60_000).sample(end)).toBe(3);
    expect(await new TrendService(store.db, 60_000).sample(end + 10)).toBe(0);
    const trends = await ok<Trends>('GET', '/v1/trends');
    expect(trends.interval_ms).toBe(60_000);
    // (The server's own sampler may have written the interval before, at a minute's turn.)
    const at = new Date(end).toISOString();
    const sampled = trends.targets.map((t) => ({ target: t.target, samples: t.samples.filter((x) => x.at === at) }));
    expect(sampled.map((t) => [t.target, t.samples.length])).toEqual([
      ['emulator', 1],
      ['device', 1],
      ['browserstack', 1],
    ]);
    for (const t of trends.targets) inOrder(t.samples.map((x) => x.at));
    const [emulator] = sampled;
    const overview = await ok<{ totals: { queued: number } }>('GET', '/v1/overview');
    // Installs: the batches of the last minute leased to install; avoided: the other jobs they ran.
    const made = batches.filter((b) => b.install).length;
    const jobs = batches.reduce((n, b) => n + b.jobs.length, 0);
    expect(made).toBe(3);
    expect(emulator?.samples[0]).toMatchObject({
      queued: overview.totals.queued,
      installs_made: made,
      installs_avoided: jobs - made,
      devices: 3,
      busy: 1,
    });
    expect(overview.totals.queued).toBeGreaterThanOrEqual(2);
    expect(sampled[1]?.samples[0]).toMatchObject({ queued: 0, installs_made: 0, devices: 0, busy: 0 });
  });
});

describe('where a failure happened', () => {
  it("is read from the `at FILE:LINE:COL` line the agent writes, as the CLI's reports read it", () => {
    expect(locationOf('Error: expect(received).toBe(expected)\n    at tests/login.spec.js:12:5')).toBe(
      'tests/login.spec.js:12:5',
    );
    expect(locationOf('TimeoutError: locator.click\n    at tests/deep/checkout.spec.ts:40')).toBe(
      'tests/deep/checkout.spec.ts:40',
    );
    // Not a place in the project: absolute, climbing out, or a stack frame inside a message.
    expect(locationOf('boom\n    at /usr/lib/node.js:1:2\n    at ../other/x.spec.js:3:4')).toBeNull();
    expect(locationOf('TimeoutError: locator.click (tests/deep/checkout.spec.ts:40:11)')).toBeNull();
    expect(locationOf('device offline')).toBeNull();
    expect(locationOf(null)).toBeNull();
  });
});
