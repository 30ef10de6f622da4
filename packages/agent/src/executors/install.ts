/**
 * Installing the batch's build on an emulator or phone: the --install-command template
 * (default `adb -s {device} install -r {app_path}`) through /bin/sh, values shell-quoted.
 */
import { existsSync } from 'node:fs';
import { isUrlLike } from './app-path.js';
import { testEnv } from './env.js';
import { installOutcome } from './outcome.js';
import { runProcess } from './process.js';
import { fillCommand, placeholders } from './template.js';
import type { ExecContext, InstallOutcome, OutputSink } from './types.js';

export const DEFAULT_INSTALL_COMMAND = 'adb -s {device} install -r {app_path}';
export const INSTALL_PLACEHOLDERS = ['device', 'app_path', 'app_version_id', 'target'];

export interface InstallCommandOptions {
  command: string;
  workdir: string;
  timeoutMs: number;
  killGraceMs?: number;
  onOutput?: OutputSink;
}

export async function runInstallCommand(
  ctx: ExecContext,
  options: InstallCommandOptions,
  signal: AbortSignal,
): Promise<InstallOutcome> {
  // BrowserStack slots have no adb: the build was uploaded once per app version and its
  // bs:// URL (QGJOB_APP_PATH) is handed to the test, whose session installs it.
  if (ctx.device.target === 'browserstack') return { ok: true, duration_ms: 0 };
  if (placeholders(options.command).includes('app_path') && !isUrlLike(ctx.appPath) && !existsSync(ctx.appPath)) {
    return {
      ok: false,
      duration_ms: 0,
      error: `the build of app version ${ctx.batch.app_version_id} is not at ${ctx.appPath} (see --app-path)`,
    };
  }
  const line = fillCommand(options.command, {
    device: ctx.device.name,
    app_path: ctx.appPath,
    app_version_id: ctx.batch.app_version_id,
    target: ctx.device.target,
  });
  const result = await runProcess({
    command: '/bin/sh',
    args: ['-c', line],
    cwd: options.workdir,
    env: testEnv(ctx),
    timeoutMs: options.timeoutMs,
    signal,
    killGraceMs: options.killGraceMs,
    onOutput: options.onOutput,
  });
  return installOutcome(result, { what: 'install command', timeoutMs: options.timeoutMs, viaShell: true });
}

/** For executors with nothing to install. */
export function noInstall(): Promise<InstallOutcome> {
  return Promise.resolve({ ok: true, duration_ms: 0 });
}
