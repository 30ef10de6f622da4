import type { Batch, Job, SubmitRequest } from '@qgjob/protocol';
import { type App, buildApp, type SchedulerOptions } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

describe.each(adapters)('scheduler on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  const start = async (scheduler: SchedulerOptions = {}) => {
    app = await buildApp({ db: store.db, scheduler: { retryBaseMs: 10, ...scheduler } });
  };
  beforeEach(async () => {
    store = await adapter.open();
    await start();
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  const submit = (r: Partial<SubmitRequest> & { tests: string[] }) =>
    app.queue.submit({ org_id: 'acme', app_version_id: 'v1', ...r });
  const devices = async (n: number, target: 'emulator' | 'device' = 'emulator', name = 'host') => {
    const reg = await app.scheduler.register({
      name,
      devices: Array.from({ length: n }, (_, i) => ({ name: `${target}-${i}`, target })),
    });
    return reg.devices.map((d) => d.id);
  };
  const claim = async (deviceId: string) => (await app.scheduler.claim(deviceId, 0)).batch;
  /** Runs a batch the way an agent does: start and finish every job, then done. */
  const runBatch = async (
    batch: Batch,
    outcome: (path: string) => 'passed' | 'failed' | 'errored' = () => 'passed',
  ) => {
    await app.scheduler.report(batch.id, {
      events: [
        { type: 'install', ok: true },
        ...batch.jobs.flatMap((j) => [
          { type: 'start' as const, job_id: j.id },
          { type: 'finish' as const, job_id: j.id, status: outcome(j.test_path), duration_ms: 5 },
        ]),
      ],
    });
    await app.scheduler.report(batch.id, { events: [], done: { unstarted: [] } });
  };
  const tests = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `tests/${prefix}${i}.spec.js`);

  it('gives each group to one device with one install; only the first run installs', async () => {
    await submit({ tests: tests('a', 4) });
    await submit({ app_version_id: 'v2', tests: tests('b', 4) });
    await submit({ org_id: 'globex', tests: tests('c', 4) });
    const ids = await devices(4);
    const batches = (await Promise.all(ids.map(claim))).filter((b): b is Batch => b !== null);
    expect(batches).toHaveLength(3);
    expect(batches.every((b) => b.install && b.jobs.length === 4)).toBe(true);
    expect(new Set(batches.map((b) => `${b.org_id}/${b.app_version_id}`)).size).toBe(3);
    for (const b of batches) await runBatch(b);
    for (const b of batches) {
      const jobs: Job[] = await Promise.all(b.jobs.map((j) => app.queue.getJob(j.id)));
      expect(jobs.every((j) => j.status === 'passed' && j.runs.length === 1)).toBe(true);
      expect(new Set(jobs.map((j) => j.runs[0]?.batch_id))).toEqual(new Set([b.id]));
      expect(jobs.map((j) => j.runs[0]?.app_installed)).toEqual([true, false, false, false]);
      expect(jobs.every((j) => j.runs[0]?.device?.startsWith('emulator-'))).toBe(true);
    }
    const metrics = await app.metrics.registry.getSingleMetricAsString('qgjob_app_installs_total');
    expect(metrics).toMatch(/qgjob_app_installs_total 3/);
  });

  it('keeps a device on the version it holds, also after a job-server restart', async () => {
    const [device] = await devices(1);
    await submit({ tests: tests('x', 2) });
    const first = await claim(device as string);
    expect(first).toMatchObject({ app_version_id: 'v1', install: true });
    await runBatch(first as Batch);
    // v2 queued first (older), then v1 at the same priority: the device stays on v1.
    await submit({ app_version_id: 'v2', tests: tests('y', 3) });
    await submit({ tests: tests('z', 3) });
    await app.http.close();
    await start();
    const next = await claim(device as string);
    expect(next).toMatchObject({ app_version_id: 'v1', install: false });
    await runBatch(next as Batch);
    const then = await claim(device as string);
    expect(then).toMatchObject({ app_version_id: 'v2', install: true });
  });

  it('starts a priority-9 job before earlier priority-2 jobs of the same org', async () => {
    const [device] = await devices(1);
    await submit({ tests: tests('low', 5), priority: 2 });
    await submit({ app_version_id: 'v2', tests: ['tests/urgent.spec.js'], priority: 9 });
    const batch = await claim(device as string);
    expect(batch?.jobs.map((j) => j.test_path)).toEqual(['tests/urgent.spec.js']);
  });

  /** acme's 500-job backlog on two devices, then globex submits; acme's first batch reports one test. */
  const backlogThenNewOrg = async () => {
    const ids = await devices(2);
    await submit({ tests: tests('bulk', 500) });
    const a1 = (await claim(ids[0] as string)) as Batch;
    const a2 = (await claim(ids[1] as string)) as Batch;
    await submit({ org_id: 'globex', tests: tests('b', 5) });
    const started = a1.jobs[0]?.id as string;
    const answer = await app.scheduler.report(a1.id, {
      events: [
        { type: 'start', job_id: started },
        { type: 'finish', job_id: started, status: 'passed' },
      ],
    });
    return { ids, a1, a2, answer };
  };

  it('keeps a device on its group until it served a quantum, however long others waited', async () => {
    const { answer } = await backlogThenNewOrg();
    // Both devices serve acme; globex holds none, but the switch would not pay for its install yet.
    expect(answer.yield).toBe(false);
  });

  it('hands a device to a newly waiting org after about one test (yield)', async () => {
    await app.http.close();
    await start({ config: { minQuantumMs: 0 } });
    const { ids, a1, a2, answer } = await backlogThenNewOrg();
    expect(a1.org_id).toBe('acme');
    expect(a1.jobs.length).toBeGreaterThan(1);
    // The next report of a running acme batch is told to yield.
    expect(answer.yield).toBe(true);
    await app.scheduler.report(a1.id, { events: [], done: { unstarted: a1.jobs.slice(1).map((j) => j.id) } });
    const b = await claim(ids[0] as string);
    expect(b).toMatchObject({ org_id: 'globex' });
    expect(b?.jobs).toHaveLength(5);
    // With one device each the shares are even: the other acme batch carries on.
    const a2answer = await app.scheduler.report(a2.id, { events: [] });
    expect(a2answer.yield).toBe(false);
  });

  it('learns how long tests and installs take, and sizes the next batches by time: the long test first, alone', async () => {
    const ids = await devices(2);
    const paths = tests('t', 16);
    const long = paths[14] as string;
    const lengthOf = (path: string) => (path === long ? 20_000 : 1_000);
    const run = async (batch: Batch) => {
      await app.scheduler.report(batch.id, {
        events: [
          { type: 'install', ok: true, duration_ms: 3_000 },
          ...batch.jobs.flatMap((j) => [
            { type: 'start' as const, job_id: j.id },
            { type: 'finish' as const, job_id: j.id, status: 'passed' as const, duration_ms: lengthOf(j.test_path) },
          ]),
        ],
        done: { unstarted: [] },
      });
    };
    // Nothing known yet: the group splits by count over the two idle devices.
    await submit({ tests: paths });
    const first = [(await claim(ids[0] as string)) as Batch, (await claim(ids[1] as string)) as Batch];
    expect(first.map((b) => b.jobs.length)).toEqual([8, 8]);
    for (const b of first) await run(b);
    const { rows } = await store.db.query<{ test_path: string; avg_ms: number; runs: number }>(
      'SELECT test_path, avg_ms, runs FROM test_durations WHERE org_id = $1 ORDER BY avg_ms DESC LIMIT 2',
      ['acme'],
    );
    expect(rows).toEqual([
      { test_path: long, avg_ms: 20_000, runs: 1 },
      { test_path: expect.any(String), avg_ms: 1_000, runs: 1 },
    ]);
    const installs = await store.db.query<{ avg_ms: number; installs: number }>(
      'SELECT avg_ms, installs FROM install_durations WHERE org_id = $1 AND app_version_id = $2',
      ['acme', 'v1'],
    );
    expect(installs.rows).toEqual([{ avg_ms: 3_000, installs: 2 }]);
    // Known now: 35 s of work in two parts of about equal time, the 20 s test alone in one.
    await submit({ tests: paths });
    const next = (await claim(ids[0] as string)) as Batch;
    expect(next.jobs.map((j) => j.test_path)).toEqual([long]);
    const rest = (await claim(ids[1] as string)) as Batch;
    expect(rest.jobs).toHaveLength(15);
  });

  it('runs every job exactly once with 16 devices claiming concurrently', async () => {
    const total = adapter.name === 'postgres' ? 5000 : 1500;
    for (let i = 0; i < total; i += 500) {
      await submit({ org_id: `org${(i / 500) % 3}`, app_version_id: `v${i}`, tests: tests(`n${i}-`, 500) });
    }
    const ids = await devices(16);
    const ran = new Map<string, number>();
    await Promise.all(
      ids.map(async (id) => {
        for (;;) {
          const batch = await claim(id);
          if (!batch) return;
          for (const j of batch.jobs) ran.set(j.id, (ran.get(j.id) ?? 0) + 1);
          await runBatch(batch);
        }
      }),
    );
    expect(ran.size).toBe(total);
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
    const { rows } = await store.db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM jobs GROUP BY status`,
    );
    expect(rows).toEqual([{ status: 'passed', n: total }]);
    const dup = await store.db.query(`SELECT job_id FROM runs GROUP BY job_id HAVING count(*) > 1`);
    expect(dup.rows).toEqual([]);
  }, 120_000);

  it('retries a failed test within max_retries and marks the pass flaky', async () => {
    const [device] = await devices(1);
    const { response } = await submit({ tests: ['tests/flaky.spec.js'], max_retries: 1 });
    const id = response.jobs[0]?.id as string;
    await runBatch((await claim(device as string)) as Batch, () => 'failed');
    expect((await app.queue.getJob(id)).status).toBe('queued');
    await runBatch((await claim(device as string)) as Batch, () => 'passed');
    const job = await app.queue.getJob(id);
    expect(job).toMatchObject({ status: 'passed', flaky: true, attempts: 2 });
    expect(job.runs.map((r) => r.status)).toEqual(['failed', 'passed']);
  });

  it('fails a test for good without retries, and errors after the infrastructure budget', async () => {
    const [device] = await devices(1);
    const failing = (await submit({ tests: ['tests/bad.spec.js'] })).response.jobs[0]?.id as string;
    await runBatch((await claim(device as string)) as Batch, () => 'failed');
    expect((await app.queue.getJob(failing)).status).toBe('failed');

    const broken = (await submit({ tests: ['tests/infra.spec.js'] })).response.jobs[0]?.id as string;
    for (let i = 0; i < 3; i++) {
      let batch: Batch | null = null;
      for (let t = 0; t < 100 && !batch; t++) {
        batch = await claim(device as string);
        if (!batch) await new Promise((r) => setTimeout(r, 20));
      }
      await runBatch(batch as Batch, () => 'errored');
    }
    const job = await app.queue.getJob(broken);
    expect(job.status).toBe('errored');
    expect(job.runs.map((r) => r.status)).toEqual(['errored', 'errored', 'errored']);
    expect(job.error).toMatch(/gave up after 3 infrastructure errors/);
  });

  it('requeues a batch the device lost track of and refuses its late reports', async () => {
    const [device] = await devices(1);
    await submit({ tests: tests('l', 3) });
    const lost = (await claim(device as string)) as Batch;
    const first = lost.jobs[0]?.id as string;
    await app.scheduler.report(lost.id, { events: [{ type: 'start', job_id: first }] });
    // The agent restarts and asks again for the same device.
    const again = (await claim(device as string)) as Batch;
    expect(again.id).not.toBe(lost.id);
    // All three come back, the one that was running too: its run is lost, and with no other
    // device it is retried here at once.
    expect(again.jobs.map((j) => j.id).sort()).toEqual(lost.jobs.map((j) => j.id).sort());
    await expect(
      app.scheduler.report(lost.id, { events: [{ type: 'finish', job_id: first, status: 'passed' }] }),
    ).rejects.toMatchObject({ code: 'conflict' });
    const job = await app.queue.getJob(first);
    expect(job.runs.map((r) => r.status)).toEqual(['lost']);
    expect(job.status).toBe('assigned');
  });

  it('installs again after a batch taken back before any run had the build, not after one that ran', async () => {
    const [device] = await devices(1);
    await submit({ tests: tests('i', 3) });
    // Leased to install, then lost before the agent said anything: the install is unknown.
    const unheard = (await claim(device as string)) as Batch;
    expect(unheard.install).toBe(true);
    const again = (await claim(device as string)) as Batch;
    expect(again.install).toBe(true);
    // This one starts a test (the build is there), then is lost too: the build stays known.
    await app.scheduler.report(again.id, {
      events: [
        { type: 'install', ok: true },
        { type: 'start', job_id: again.jobs[0]?.id as string },
      ],
    });
    const third = (await claim(device as string)) as Batch;
    expect(third.install).toBe(false);
  });

  it('cancels a running job: its run ends cancelled, the agent is told, a late finish changes nothing', async () => {
    const [device] = await devices(1);
    await submit({ tests: tests('c', 2) });
    const batch = (await claim(device as string)) as Batch;
    const [first, second] = batch.jobs.map((j) => j.id) as [string, string];
    await app.scheduler.report(batch.id, { events: [{ type: 'start', job_id: first }] });
    const cancelled = await app.queue.cancelJob(first);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.runs.map((r) => r.status)).toEqual(['cancelled']);
    const answer = await app.scheduler.report(batch.id, { events: [] });
    expect(answer.cancelled).toEqual([first]);
    await app.scheduler.report(batch.id, {
      events: [
        { type: 'finish', job_id: first, status: 'passed' },
        { type: 'start', job_id: second },
        { type: 'finish', job_id: second, status: 'passed' },
      ],
      done: { unstarted: [] },
    });
    expect((await app.queue.getJob(first)).status).toBe('cancelled');
    expect((await app.queue.getJob(second)).status).toBe('passed');
    // Cancelling a finished job is a conflict; cancelling twice is fine.
    await expect(app.queue.cancelJob(second)).rejects.toMatchObject({ code: 'conflict' });
    expect((await app.queue.cancelJob(first)).status).toBe('cancelled');
  });

  it('retries an infrastructure error on another device, and the job passes there', async () => {
    const [d1, d2] = (await devices(2)) as [string, string];
    const id = (await submit({ tests: ['tests/infra-once.spec.js'] })).response.jobs[0]?.id as string;
    await runBatch((await claim(d1)) as Batch, () => 'errored');
    await new Promise((r) => setTimeout(r, 30)); // past the backoff
    expect(await claim(d1)).toBeNull();
    const retry = (await claim(d2)) as Batch;
    expect(retry.jobs.map((j) => j.id)).toEqual([id]);
    await runBatch(retry, () => 'passed');
    const job = await app.queue.getJob(id);
    expect(job).toMatchObject({ status: 'passed', flaky: false });
    expect(job.runs.map((r) => [r.status, r.device])).toEqual([
      ['errored', 'emulator-0'],
      ['passed', 'emulator-1'],
    ]);
  });

  it('answers an empty queue with no batch, over HTTP', async () => {
    const [device] = await devices(1);
    const res = await app.http.inject({ method: 'POST', url: `/v1/devices/${device}/claim?wait_ms=0` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ batch: null });
    const unknown = await app.http.inject({ method: 'POST', url: '/v1/devices/dev_nope/claim?wait_ms=0' });
    expect(unknown.statusCode).toBe(404);
  });

  it('wakes a long-polling claim when a job is submitted', async () => {
    const [device] = await devices(1);
    const t0 = Date.now();
    const pending = app.scheduler.claim(device as string, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    await submit({ tests: ['tests/wake.spec.js'] });
    const { batch } = await pending;
    expect(batch?.jobs).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});
