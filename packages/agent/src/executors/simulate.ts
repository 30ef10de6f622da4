/**
 * No device at all, for demos and benchmarks — the only executor that pretends. An install
 * takes installMs, a test testMs; a test whose path holds `@<digits>ms` takes that long
 * instead (`tests/checkout@2000ms.spec.js`: 2 s), so a workload can mix short and long
 * tests. A test whose path matches `fail` fails, every other passes; one longer than
 * testTimeoutMs (whichever way its length was given) is stopped then and errored.
 * Deterministic: the same batch always gives the same verdicts, and the same few output
 * lines (`simulate: running tests/x.spec.js`, then `passed` or `failed: …`), so a demo's
 * run logs have something to show.
 */
import type { BatchJob } from '@qgjob/protocol';
import { formatDuration } from '../duration.js';
import { describe } from '../errors.js';
import { sleep } from '../sleep.js';
import type { ExecContext, Executor, InstallOutcome, OutputSink, RunOutcome } from './types.js';

export interface SimulateOptions {
  testMs: number;
  installMs: number;
  fail?: RegExp;
  /** As --test-timeout: a test longer than this is killed and errored. */
  testTimeoutMs?: number;
}

/** `@2000ms` in a test's path: how long the simulated test takes, or undefined (testMs). */
export function simulatedTestMs(testPath: string): number | undefined {
  const m = /@(\d+)ms\b/.exec(testPath);
  return m ? Number(m[1]) : undefined;
}

export class SimulateExecutor implements Executor {
  readonly name = 'simulate';
  readonly runsTests = false;

  constructor(private readonly options: SimulateOptions) {}

  async install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome> {
    const started = performance.now();
    output?.('stdout', `simulate: installing ${ctx.batch.app_version_id} on ${ctx.device.name}\n`);
    await sleep(this.options.installMs, signal);
    const duration_ms = Math.round(performance.now() - started);
    if (signal.aborted) return { ok: false, duration_ms, error: `install was killed: ${describe(signal.reason)}` };
    output?.('stdout', 'installed\n');
    return { ok: true, duration_ms };
  }

  async run(job: BatchJob, _ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome> {
    const { fail, testTimeoutMs } = this.options;
    const testMs = simulatedTestMs(job.test_path) ?? this.options.testMs;
    const started = performance.now();
    output?.('stdout', `simulate: running ${job.test_path}\n`);
    const timedOut = testTimeoutMs !== undefined && testMs > testTimeoutMs;
    await sleep(timedOut ? testTimeoutMs : testMs, signal);
    const duration_ms = Math.round(performance.now() - started);
    if (signal.aborted) return { status: 'errored', duration_ms, error: `test was killed: ${describe(signal.reason)}` };
    if (timedOut) {
      return { status: 'errored', duration_ms, error: `test timed out after ${formatDuration(testTimeoutMs)}` };
    }
    if (fail?.test(job.test_path)) {
      const error = `simulated failure: ${job.test_path} matches --sim-fail ${fail}`;
      output?.('stderr', `failed: ${error}\n`);
      return { status: 'failed', duration_ms, error };
    }
    output?.('stdout', 'passed\n');
    return { status: 'passed', duration_ms };
  }
}
