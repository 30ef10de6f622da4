import type { Batch } from '@qgjob/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchRunnerOptions } from '../src/batch-runner.js';
import { SimulateExecutor } from '../src/executors/simulate.js';
import type { Executor } from '../src/executors/types.js';
import { sleep } from '../src/sleep.js';
import { batchOf, eventsOf, okReport, runBatchOn, type Stub, type StubHandlers, startStub } from './stub-server.js';

let stub: Stub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

async function run(
  batch: Batch,
  executor: Executor,
  handlers: StubHandlers = {},
  extra: Partial<BatchRunnerOptions> = {},
) {
  stub = await startStub(handlers);
  return runBatchOn(stub, batch, executor, extra);
}

const sim = (testMs = 20) => new SimulateExecutor({ testMs, installMs: 10, fail: /fail/ });

describe('batch runner', () => {
  it('installs once, runs every job in order and reports done with nothing unstarted', async () => {
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/fail.spec.js', 'tests/c.spec.js'], { install: true });
    const summary = await run(batch, sim());
    expect(summary).toMatchObject({ passed: 2, failed: 1, errored: 0, unstarted: 0, dropped: false });
    const s = stub as Stub;
    expect(eventsOf(s, 'install')).toEqual([expect.objectContaining({ type: 'install', ok: true })]);
    expect(eventsOf(s, 'start').map((e) => e.job_id)).toEqual(['j1', 'j2', 'j3']);
    expect(eventsOf(s, 'finish').map((e) => [e.job_id, e.status])).toEqual([
      ['j1', 'passed'],
      ['j2', 'failed'],
      ['j3', 'passed'],
    ]);
    const last = s.reports.at(-1)?.body;
    expect(last?.done).toEqual({ unstarted: [] });
    // Events arrive in order: the install first, done last.
    const all = s.reports.flatMap((r) => r.body.events.map((e) => e.type));
    expect(all[0]).toBe('install');
  });

  it('stops starting jobs on yield and hands the rest back in done', async () => {
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js', 'tests/c.spec.js']);
    // The answer to the first report (carrying j1's start) says yield, while j1 still runs.
    const summary = await run(batch, sim(200), { report: (_b, _body, n) => okReport({ yield: n === 1 }) });
    expect(summary).toMatchObject({ passed: 1, unstarted: 2, yielded: true });
    const s = stub as Stub;
    expect(eventsOf(s, 'start').map((e) => e.job_id)).toEqual(['j1']);
    expect(eventsOf(s, 'finish').map((e) => e.job_id)).toEqual(['j1']);
    expect(s.reports.at(-1)?.body.done).toEqual({ unstarted: ['j2', 'j3'] });
  });

  it('reports a failed install as one event and starts nothing: the server errors the jobs', async () => {
    const failingInstall: Executor = {
      name: 'broken',
      install: async () => ({ ok: false, duration_ms: 7, error: 'adb: device offline' }),
      run: async () => {
        throw new Error('must not run');
      },
    };
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js'], { install: true });
    const summary = await run(batch, failingInstall);
    expect(summary).toMatchObject({ errored: 2, unstarted: 0, setupFailed: true });
    const s = stub as Stub;
    expect(eventsOf(s, 'install')).toEqual([
      { type: 'install', ok: false, duration_ms: 7, error: 'adb: device offline' },
    ]);
    expect(eventsOf(s, 'start')).toEqual([]);
    expect(eventsOf(s, 'finish')).toEqual([]);
    expect(s.reports.at(-1)?.body.done).toEqual({ unstarted: [] });
  });

  it('reports a device that is not ready as `unavailable`, with no install, start or finish', async () => {
    const notReady: Executor = {
      name: 'absent',
      prepare: async () => ({ ok: false, error: 'emulator-5554 is not attached (adb devices)' }),
      install: async () => {
        throw new Error('must not install');
      },
      run: async () => {
        throw new Error('must not run');
      },
    };
    const batch = batchOf('b1', ['tests/a.spec.js'], { install: true });
    const summary = await run(batch, notReady);
    expect(summary).toMatchObject({ errored: 1, setupFailed: true });
    const s = stub as Stub;
    expect(eventsOf(s, 'unavailable')).toEqual([
      { type: 'unavailable', error: 'emulator-5554 is not attached (adb devices)' },
    ]);
    expect([...eventsOf(s, 'install'), ...eventsOf(s, 'start'), ...eventsOf(s, 'finish')]).toEqual([]);
  });

  it('on 409 kills the running test and reports nothing more', async () => {
    let killedWith: unknown;
    const waitsForKill: Executor = {
      name: 'waits',
      install: async () => ({ ok: true, duration_ms: 0 }),
      run: (_job, _ctx, signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            killedWith = signal.reason;
            resolve({ status: 'errored', duration_ms: 1, error: 'killed' });
          });
        }),
    };
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js']);
    const summary = await run(
      batch,
      waitsForKill,
      { report: () => ({ status: 409, body: { error: { code: 'conflict', message: 'fenced' } } }) },
      { heartbeatMs: 100 },
    );
    expect(summary.dropped).toBe(true);
    expect(String(killedWith)).toContain('lease');
    const s = stub as Stub;
    expect(s.reports).toHaveLength(1);
    expect(s.reports[0]?.body.done).toBeUndefined();
  });

  it('kills a job cancelled while it runs, reports nothing for it, and goes on', async () => {
    const batch = batchOf('b1', ['tests/slow.spec.js', 'tests/b.spec.js', 'tests/c.spec.js']);
    const slowFirst: Executor = {
      name: 'slow-first',
      install: async () => ({ ok: true, duration_ms: 0 }),
      run: async (job, _ctx, signal) => {
        await sleep(job.id === 'j1' ? 10_000 : 10, signal);
        return signal.aborted
          ? { status: 'errored', duration_ms: 0, error: 'killed' }
          : { status: 'passed', duration_ms: 10 };
      },
    };
    // j1 and j3 are cancelled by a user: the heartbeat's answer says so.
    const summary = await run(
      batch,
      slowFirst,
      { report: () => okReport({ cancelled: ['j1', 'j3'] }) },
      { heartbeatMs: 100 },
    );
    const s = stub as Stub;
    expect(eventsOf(s, 'start').map((e) => e.job_id)).toEqual(['j1', 'j2']);
    expect(eventsOf(s, 'finish').map((e) => [e.job_id, e.status])).toEqual([['j2', 'passed']]);
    expect(s.reports.at(-1)?.body.done).toEqual({ unstarted: [] });
    expect(summary).toMatchObject({ passed: 1, unstarted: 0 });
  });

  it('sends heartbeats while a long test runs', async () => {
    const batch = batchOf('b1', ['tests/a.spec.js']);
    await run(batch, sim(550), {}, { heartbeatMs: 100 });
    const s = stub as Stub;
    const empty = s.reports.filter((r) => r.body.events.length === 0 && !r.body.done);
    expect(empty.length).toBeGreaterThanOrEqual(3);
  });

  it('on drain lets the running test finish and hands back the rest', async () => {
    const drain = new AbortController();
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js']);
    setTimeout(() => drain.abort(), 50);
    const summary = await run(batch, sim(200), {}, { drain: drain.signal });
    expect(summary).toMatchObject({ passed: 1, unstarted: 1 });
    expect((stub as Stub).reports.at(-1)?.body.done).toEqual({ unstarted: ['j2'] });
  });

  it('when the grace period ends, kills the running test and reports it errored', async () => {
    const kill = new AbortController();
    const drain = new AbortController();
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js']);
    setTimeout(() => {
      drain.abort();
      kill.abort(new Error('agent shutting down'));
    }, 50);
    const summary = await run(batch, sim(10_000), {}, { drain: drain.signal, kill: kill.signal });
    expect(summary).toMatchObject({ errored: 1, unstarted: 1, dropped: false });
    const s = stub as Stub;
    expect(eventsOf(s, 'finish')).toEqual([expect.objectContaining({ job_id: 'j1', status: 'errored' })]);
    expect(s.reports.at(-1)?.body.done).toEqual({ unstarted: ['j2'] });
  });
});
