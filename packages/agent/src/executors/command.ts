/**
 * Runs any test command: --command TEMPLATE through /bin/sh with {test_path},
 * {app_version_id}, {device}, {target} (also {app_path}, {org_id}, {job_id}, {batch_id})
 * shell-quoted. Exit 0 is passed, any other exit failed; exit 126/127 (the shell could not
 * run it), a timeout or a kill are errored. Installs only when --install-command is given.
 */
import type { BatchJob } from '@qgjob/protocol';
import { testEnv } from './env.js';
import { noInstall, runInstallCommand } from './install.js';
import { runOutcome } from './outcome.js';
import { runProcess } from './process.js';
import { fillCommand } from './template.js';
import type { ExecContext, Executor, InstallOutcome, OutputSink, RunOutcome } from './types.js';

export const COMMAND_PLACEHOLDERS = [
  'test_path',
  'app_version_id',
  'device',
  'target',
  'app_path',
  'org_id',
  'job_id',
  'batch_id',
];

export interface CommandOptions {
  template: string;
  workdir: string;
  testTimeoutMs: number;
  /** Only an explicitly given install command is run; without one, install is a no-op. */
  installCommand?: string;
  installTimeoutMs: number;
  killGraceMs?: number;
}

export class CommandExecutor implements Executor {
  readonly name = 'command';

  constructor(private readonly options: CommandOptions) {}

  install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome> {
    const { installCommand, workdir, installTimeoutMs, killGraceMs } = this.options;
    if (installCommand === undefined) return noInstall();
    return runInstallCommand(
      ctx,
      { command: installCommand, workdir, timeoutMs: installTimeoutMs, killGraceMs, onOutput: output },
      signal,
    );
  }

  async run(job: BatchJob, ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome> {
    const line = fillCommand(this.options.template, {
      test_path: job.test_path,
      app_version_id: ctx.batch.app_version_id,
      device: ctx.device.name,
      target: ctx.device.target,
      app_path: ctx.appPath,
      org_id: ctx.batch.org_id,
      job_id: job.id,
      batch_id: ctx.batch.id,
    });
    const result = await runProcess({
      command: '/bin/sh',
      args: ['-c', line],
      cwd: ctx.workdir ?? this.options.workdir,
      env: testEnv(ctx, job),
      timeoutMs: this.options.testTimeoutMs,
      signal,
      killGraceMs: this.options.killGraceMs,
      onOutput: output,
    });
    return runOutcome(result, { what: 'command', timeoutMs: this.options.testTimeoutMs, viaShell: true });
  }
}
