/** The simulate executor's per-test durations: `@<digits>ms` in a test's path. */
import { SimulateExecutor } from '@qgjob/agent';
import { describe, expect, it } from 'vitest';
import { simulatedTestMs } from '../packages/agent/src/executors/simulate.js';
import { contextFor, neverAborted } from '../packages/agent/test/fakes.js';

const ctx = contextFor({ target: 'emulator', name: 'sim-1' }, '/builds/v1.apk');
const job = (path: string) => ({ id: path, test_path: path, priority: 5, attempt: 1 });

describe('simulate executor: @<n>ms in a test path', () => {
  it('reads the duration from the path, else none', () => {
    expect(simulatedTestMs('tests/checkout@2000ms.spec.js')).toBe(2000);
    expect(simulatedTestMs('tests/g1/t3@0ms.spec.js')).toBe(0);
    expect(simulatedTestMs('tests/checkout.spec.js')).toBeUndefined();
    expect(simulatedTestMs('tests/user@example.spec.js')).toBeUndefined();
    expect(simulatedTestMs('tests/a@20msx.spec.js')).toBeUndefined();
  });

  it('runs that long instead of testMs; other tests still take testMs', async () => {
    const sim = new SimulateExecutor({ testMs: 10, installMs: 0 });
    const long = await sim.run(job('tests/checkout@300ms.spec.js'), ctx, neverAborted);
    expect(long.status).toBe('passed');
    expect(long.duration_ms).toBeGreaterThanOrEqual(295);
    const plain = await sim.run(job('tests/checkout.spec.js'), ctx, neverAborted);
    expect(plain.duration_ms).toBeLessThan(200);
    const short = await sim.run(job('tests/quick@0ms.spec.js'), ctx, neverAborted);
    expect(short.duration_ms).toBeLessThan(plain.duration_ms + 5);
  });

  it('keeps --sim-fail and the test timeout', async () => {
    const sim = new SimulateExecutor({ testMs: 10, installMs: 0, fail: /broken/, testTimeoutMs: 100 });
    const failed = await sim.run(job('tests/broken@20ms.spec.js'), ctx, neverAborted);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.duration_ms).toBeGreaterThanOrEqual(15);
    const started = performance.now();
    const timedOut = await sim.run(job('tests/slow@60000ms.spec.js'), ctx, neverAborted);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(timedOut.status).toBe('errored');
    expect(timedOut.error).toContain('timed out after');
  });

  it('stops at once when aborted, as errored', async () => {
    const sim = new SimulateExecutor({ testMs: 10, installMs: 0 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('agent shutting down')), 50);
    const run = await sim.run(job('tests/long@10000ms.spec.js'), ctx, controller.signal);
    expect(run.status).toBe('errored');
    expect(run.error).toContain('agent shutting down');
  });
});
