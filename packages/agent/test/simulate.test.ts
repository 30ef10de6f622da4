import { describe, expect, it } from 'vitest';
import { SimulateExecutor } from '../src/executors/simulate.js';
import { contextFor, neverAborted } from './fakes.js';

const ctx = contextFor({ target: 'emulator', name: 'sim-1' }, '/builds/v1.apk');
const job = (path: string) => ({ id: path, test_path: path, priority: 5, attempt: 1 });

describe('simulate executor', () => {
  it('passes every test except those matching --sim-fail, the same every time', async () => {
    const sim = new SimulateExecutor({ testMs: 5, installMs: 5, fail: /flaky|broken/ });
    const paths = ['tests/a.spec.js', 'tests/flaky.spec.js', 'tests/b.spec.js', 'tests/broken/c.spec.js'];
    for (let round = 0; round < 3; round++) {
      const statuses = [];
      for (const path of paths) statuses.push((await sim.run(job(path), ctx, neverAborted)).status);
      expect(statuses).toEqual(['passed', 'failed', 'passed', 'failed']);
    }
    const failed = await sim.run(job('tests/flaky.spec.js'), ctx, neverAborted);
    expect(failed.error).toContain('--sim-fail');
  });

  it('takes --sim-test-ms per test and --sim-install-ms per install', async () => {
    const sim = new SimulateExecutor({ testMs: 150, installMs: 100 });
    const install = await sim.install(ctx, neverAborted);
    expect(install.ok).toBe(true);
    expect(install.duration_ms).toBeGreaterThanOrEqual(95);
    const run = await sim.run(job('tests/a.spec.js'), ctx, neverAborted);
    expect(run.duration_ms).toBeGreaterThanOrEqual(145);
  });

  it('stops at once when aborted, as errored', async () => {
    const sim = new SimulateExecutor({ testMs: 10_000, installMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('agent shutting down')), 50);
    const started = Date.now();
    const run = await sim.run(job('tests/a.spec.js'), ctx, controller.signal);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(run).toMatchObject({ status: 'errored' });
    expect(run.error).toContain('agent shutting down');
  });
});
