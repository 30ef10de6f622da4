import type { AgentList, Batch, DeviceView } from '@qgjob/protocol';
import { type App, buildApp, type SchedulerOptions } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

describe.each(adapters)('device health on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  const start = async (scheduler: SchedulerOptions = {}) => {
    app = await buildApp({ db: store.db, scheduler: { retryBaseMs: 10, ...scheduler } });
  };
  beforeEach(async () => {
    store = await adapter.open();
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  const register = async (names: string[], agent = 'host') => {
    const reg = await app.scheduler.register({
      name: agent,
      devices: names.map((name) => ({ name, target: 'emulator' })),
    });
    return reg.devices.map((d) => d.id);
  };
  const submit = async (tests: string[], org = 'acme') =>
    (await app.queue.submit({ org_id: org, app_version_id: 'v1', tests })).response;
  const claim = async (deviceId: string) => (await app.scheduler.claim(deviceId, 0)).batch;
  /** Claims for the device until it gets a batch (retries wait out their short backoff). */
  const claimSoon = async (deviceId: string): Promise<Batch> => {
    for (let i = 0; i < 200; i++) {
      const b = await claim(deviceId);
      if (b) return b;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no batch came');
  };
  const failInstall = (b: Batch) =>
    app.scheduler.report(b.id, {
      events: [{ type: 'install', ok: false, duration_ms: 3, error: 'install command exited with code 1' }],
      done: { unstarted: [] },
    });
  const pass = (b: Batch) =>
    app.scheduler.report(b.id, {
      events: [
        { type: 'install', ok: true, duration_ms: 3 },
        ...b.jobs.flatMap((j) => [
          { type: 'start' as const, job_id: j.id },
          { type: 'finish' as const, job_id: j.id, status: 'passed' as const, duration_ms: 5 },
        ]),
      ],
      done: { unstarted: [] },
    });
  const deviceView = async (id: string): Promise<DeviceView> => {
    const res = await app.http.inject({ method: 'GET', url: '/v1/agents' });
    const { agents } = res.json() as AgentList;
    return agents.flatMap((a) => a.devices).find((d) => d.id === id) as DeviceView;
  };
  const metric = async (name: string) => (await app.metrics.registry.getSingleMetricAsString(name)).trim();

  it('makes a failed install an infrastructure error of each job, counted apart from installs', async () => {
    await start();
    const [broken] = await register(['emulator-5554']);
    const { jobs } = await submit(['a.spec.js', 'b.spec.js']);
    const batch = (await claim(broken as string)) as Batch;
    expect(batch.install).toBe(true);
    await failInstall(batch);
    for (const j of jobs) {
      const job = await app.queue.getJob(j.id);
      expect(job.status).toBe('queued');
      expect(job.runs).toEqual([
        expect.objectContaining({
          n: 1,
          status: 'errored',
          device: 'emulator-5554',
          app_installed: false,
          error: 'install failed on emulator-5554: install command exited with code 1',
        }),
      ]);
    }
    expect(await metric('qgjob_app_installs_total')).toMatch(/qgjob_app_installs_total 0$/);
    expect(await metric('qgjob_app_install_failures_total')).toMatch(/qgjob_app_install_failures_total 1$/);
    // The device no longer holds the build: the next batch installs again.
    const again = await claimSoon(broken as string);
    expect(again.install).toBe(true);
    await pass(again);
    expect(await metric('qgjob_app_installs_total')).toMatch(/qgjob_app_installs_total 1$/);
  });

  it('errors the jobs of a device that only fails after the budget, and quarantines it', async () => {
    await start({ health: { quarantineAfter: 3, coolDownMs: 60_000 } });
    const [broken] = await register(['emulator-5554']);
    const { jobs } = await submit(['a.spec.js', 'b.spec.js']);
    for (let i = 0; i < 3; i++) await failInstall(await claimSoon(broken as string));
    for (const j of jobs) {
      const job = await app.queue.getJob(j.id);
      expect(job.status).toBe('errored');
      expect(job.error).toBe(
        'install failed on emulator-5554: install command exited with code 1; gave up after 3 infrastructure errors',
      );
      expect(job.runs.map((r) => r.status)).toEqual(['errored', 'errored', 'errored']);
    }
    expect(await metric('qgjob_batches_total')).toMatch(/qgjob_batches_total 3$/);
    const view = await deviceView(broken as string);
    expect(view).toMatchObject({ state: 'quarantined', infra_failures: 3 });
    expect(Date.parse(view.quarantined_until as string) - Date.now()).toBeGreaterThan(50_000);
    expect(await metric('qgjob_devices')).toMatch(/qgjob_devices\{target="emulator",state="quarantined"\} 1/);
    // Quarantined: new work does not reach it.
    await submit(['c.spec.js']);
    expect(await claim(broken as string)).toBeNull();
  });

  it('sends the retry of an install failure to another device, and gives a quarantined device one probe job', async () => {
    await start({ health: { quarantineAfter: 1, coolDownMs: 1_500, maxCoolDownMs: 10_000 } });
    const [broken, good] = await register(['emulator-5554', 'emulator-5556']);
    await submit(['a.spec.js', 'b.spec.js', 'c.spec.js']);
    const first = (await claim(broken as string)) as Batch;
    expect(first.jobs).toHaveLength(3);
    await failInstall(first);
    const quarantined = await deviceView(broken as string);
    expect(quarantined.state).toBe('quarantined');
    // The retries avoid the device they failed on.
    const retried = await claimSoon(good as string);
    expect(retried.jobs).toHaveLength(3);
    await pass(retried);
    await submit(['d.spec.js', 'e.spec.js', 'f.spec.js']);
    expect(await claim(broken as string)).toBeNull();
    await new Promise((r) => setTimeout(r, Date.parse(quarantined.quarantined_until as string) - Date.now() + 20));
    // Past the cool-down: one job, a probe. It fails: quarantined again, for twice as long.
    const probe = (await claim(broken as string)) as Batch;
    expect(probe.jobs).toHaveLength(1);
    const before = Date.now();
    await failInstall(probe);
    const view = await deviceView(broken as string);
    expect(view.state).toBe('quarantined');
    expect(Date.parse(view.quarantined_until as string) - before).toBeGreaterThan(2_500);
    await new Promise((r) => setTimeout(r, Date.parse(view.quarantined_until as string) - Date.now() + 20));
    // A probe that works heals it: whole batches again.
    const second = await claimSoon(broken as string);
    expect(second.jobs).toHaveLength(1);
    await pass(second);
    expect(await deviceView(broken as string)).toMatchObject({
      state: 'idle',
      infra_failures: 0,
      quarantined_until: null,
    });
  });

  it('drains a device: its batch yields at the next report, it takes nothing, and enable brings it back', async () => {
    await start();
    const [device] = await register(['emulator-5554']);
    const { jobs } = await submit(['a.spec.js', 'b.spec.js', 'c.spec.js']);
    const batch = (await claim(device as string)) as Batch;
    const first = batch.jobs[0]?.id as string;
    await app.scheduler.report(batch.id, {
      events: [
        { type: 'install', ok: true },
        { type: 'start', job_id: first },
      ],
    });
    const drained = await app.scheduler.setDrained({ deviceId: device as string }, true);
    expect(drained.devices).toEqual([
      expect.objectContaining({ id: device, name: 'emulator-5554', agent: 'host', drained: true, batch_id: batch.id }),
    ]);
    expect((await deviceView(device as string)).state).toBe('draining');
    // The running test finishes; the answer says yield, and the rest go back.
    const answer = await app.scheduler.report(batch.id, {
      events: [{ type: 'finish', job_id: first, status: 'passed', duration_ms: 5 }],
    });
    expect(answer.yield).toBe(true);
    await app.scheduler.report(batch.id, { events: [], done: { unstarted: batch.jobs.slice(1).map((j) => j.id) } });
    expect((await app.queue.getJob(first)).status).toBe('passed');
    expect((await deviceView(device as string)).state).toBe('drained');
    expect(await claim(device as string)).toBeNull();
    // Enabled (here by agent name): it takes the rest.
    const enabled = await app.scheduler.setDrained({ agent: 'host' }, false);
    expect(enabled.devices.map((d) => d.drained)).toEqual([false]);
    const rest = (await claim(device as string)) as Batch;
    expect(rest.jobs.map((j) => j.id).sort()).toEqual(
      jobs
        .map((j) => j.id)
        .filter((id) => id !== first)
        .sort(),
    );
    await expect(app.scheduler.setDrained({ deviceId: 'dev_nope' }, true)).rejects.toThrow(/dev_nope/);
    await expect(app.scheduler.setDrained({ agent: 'nope' }, true)).rejects.toThrow(/agent.*nope/);
  });

  it('stops counting a device as idle the moment its long-poll hangs up, so a running batch yields', async () => {
    await start({ config: { minQuantumMs: 0, starveMs: 0, switchCost: 0 } });
    const [busy, gone] = await register(['emulator-5554', 'emulator-5556']);
    await submit(Array.from({ length: 6 }, (_, i) => `big${i}.spec.js`));
    const batch = (await claim(busy as string)) as Batch;
    // The other device long-polls ...
    const hangUp = new AbortController();
    const polling = app.scheduler.claim(gone as string, 30_000, hangUp.signal);
    await new Promise((r) => setTimeout(r, 50));
    expect((await deviceView(gone as string)).state).toBe('idle');
    // ... and its agent dies: the connection closes.
    hangUp.abort();
    expect(await polling).toEqual({ batch: null });
    expect((await deviceView(gone as string)).state).toBe('offline');
    await submit(['small.spec.js'], 'globex');
    const answer = await app.scheduler.report(batch.id, {
      events: [
        { type: 'install', ok: true },
        { type: 'start', job_id: batch.jobs[0]?.id as string },
        { type: 'finish', job_id: batch.jobs[0]?.id as string, status: 'passed', duration_ms: 5 },
      ],
    });
    expect(answer.yield).toBe(true);
  });
});
