/**
 * The default executor: each test is `npx appwright test <path> --project <project>
 * --workers 1` in --workdir (`--project NAME` as two arguments: AppWright rejects
 * `--project=NAME`). AppWright has no per-test timeout of its own, so --test-timeout kills
 * the whole process group. Local AppWright runs share Appium's port 4723, so emulator and
 * device tests of one host take turns (unless localParallel); BrowserStack sessions do not.
 */
import type { BatchJob } from '@qgjob/protocol';
import { describe } from '../errors.js';
import { testEnv } from './env.js';
import { runInstallCommand } from './install.js';
import { Mutex } from './mutex.js';
import { runOutcome } from './outcome.js';
import { runProcess } from './process.js';
import type { ExecContext, Executor, InstallOutcome, OutputSink, RunOutcome } from './types.js';

export interface AppwrightOptions {
  workdir: string;
  /** AppWright project; default: the device's target (`emulator`, `device`, `browserstack`). */
  project?: string;
  testTimeoutMs: number;
  installCommand: string;
  installTimeoutMs: number;
  /** Let local tests of this host run at once (each device has its own Appium port). */
  localParallel?: boolean;
  killGraceMs?: number;
}

export class AppwrightExecutor implements Executor {
  readonly name = 'appwright';
  private readonly appiumPort = new Mutex();

  constructor(private readonly options: AppwrightOptions) {}

  install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome> {
    const { installCommand, workdir, installTimeoutMs, killGraceMs } = this.options;
    return runInstallCommand(
      ctx,
      { command: installCommand, workdir, timeoutMs: installTimeoutMs, killGraceMs, onOutput: output },
      signal,
    );
  }

  async run(job: BatchJob, ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome> {
    const shared = ctx.device.target !== 'browserstack' && !this.options.localParallel;
    if (shared && !(await this.appiumPort.acquire(signal))) {
      return { status: 'errored', duration_ms: 0, error: `killed before it started: ${describe(signal.reason)}` };
    }
    try {
      const project = this.options.project ?? ctx.device.target;
      const result = await runProcess({
        command: 'npx',
        args: ['appwright', 'test', job.test_path, '--project', project, '--workers', '1'],
        cwd: ctx.workdir ?? this.options.workdir,
        env: testEnv(ctx, job),
        timeoutMs: this.options.testTimeoutMs,
        signal,
        killGraceMs: this.options.killGraceMs,
        onOutput: output,
      });
      return runOutcome(result, { what: 'npx appwright', timeoutMs: this.options.testTimeoutMs });
    } finally {
      if (shared) this.appiumPort.release();
    }
  }
}
