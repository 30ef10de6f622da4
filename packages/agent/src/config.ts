/**
 * Everything an agent needs to know, whether it came from flags (flags.ts) or from code
 * (startAgent in index.ts), with the defaults in one place.
 */
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { QgjobClient } from '@qgjob/client';
import type { DeviceSpec } from '@qgjob/protocol';
import type { BrowserStackCredentials } from './browserstack.js';
import { DEFAULT_APP_PATH } from './executors/app-path.js';
import { AppwrightExecutor } from './executors/appwright.js';
import { CommandExecutor } from './executors/command.js';
import { DEFAULT_INSTALL_COMMAND } from './executors/install.js';
import { SimulateExecutor } from './executors/simulate.js';
import type { Executor } from './executors/types.js';
import type { Logger, LogLevel } from './log.js';

export const EXECUTORS = ['appwright', 'command', 'simulate'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];

export const DEFAULTS = {
  executor: 'appwright' as ExecutorName,
  testTimeoutMs: 15 * 60_000,
  installTimeoutMs: 10 * 60_000,
  graceMs: 30_000,
  claimWaitMs: 25_000,
  simTestMs: 500,
  simInstallMs: 200,
  appPath: DEFAULT_APP_PATH,
  installCommand: DEFAULT_INSTALL_COMMAND,
  cacheMaxBytes: 20 * 1024 ** 3,
};

/** `$XDG_CACHE_HOME/qgjob`, else `~/.cache/qgjob`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qgjob');
}

export interface AgentConfig {
  /** One URL, a comma-separated list or an array, tried in order (failover). */
  server: string | string[];
  token?: string;
  /** Agent name, unique per host; registering is idempotent by name. Default: the hostname. */
  name?: string;
  devices: DeviceSpec[];
  /** A name, or an Executor object (tests, embedding). Default appwright. */
  executor?: ExecutorName | Executor;
  /** --command TEMPLATE, for the command executor. */
  command?: string;
  /** Where tests run and relative paths resolve. Default: the current directory. */
  workdir?: string;
  /** AppWright project. Default: the device's target. */
  project?: string;
  testTimeoutMs?: number;
  /** Default `adb -s {device} install -r {app_path}` for appwright; none for command. */
  installCommand?: string;
  installTimeoutMs?: number;
  /** Template for the build's location. Default `builds/{app_version_id}.apk`. */
  appPath?: string;
  /** AppWright: start no Appium and route nothing; local tests of this host run at once. */
  localParallel?: boolean;
  /** AppWright: starts Appium for one device (`--address 127.0.0.1 --port N` appended). Default `npx appium`. */
  appiumCommand?: string;
  /** AppWright: where its sessions are opened (the agent listens there). Default 4723. */
  appiumPort?: number;
  /** The adb binary. Default `adb`. */
  adb?: string;
  simTestMs?: number;
  simInstallMs?: number;
  simFail?: RegExp | string;
  /** How long a graceful stop lets a running test finish. Default 30 s. */
  graceMs?: number;
  /** Long-poll length of a claim. Default 25 s. */
  claimWaitMs?: number;
  /** Where builds and test bundles are kept. Default: defaultCacheDir(). */
  cacheDir?: string;
  /** The cache is trimmed (least recently used first) past this size. Default 20 GiB. */
  cacheMaxBytes?: number;
  /** Installs a bundle's npm dependencies (once per lockfile). Default `npm ci` / `npm install`. */
  depsCommand?: string;
  /** BrowserStack's API (a stand-in in tests). Default https://api-cloud.browserstack.com. */
  browserstackApi?: string;
  /** Default: BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY; they never leave this host but for BrowserStack. */
  browserstackCredentials?: BrowserStackCredentials;
  logger?: Logger;
  logLevel?: LogLevel;
  /**
   * Benchmarks and tests: the client every request of this agent goes through (claims,
   * reports, logs, downloads), given the one the agent made, e.g. to time its requests.
   */
  wrapClient?: (client: QgjobClient) => QgjobClient;
}

export function agentName(config: AgentConfig): string {
  if (config.name) return config.name;
  // The server's name pattern: a leading letter or digit, then letters, digits and ._:@/-.
  const host = hostname()
    .replace(/[^A-Za-z0-9._:@/-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return (host || 'agent').slice(0, 128);
}

export function createExecutor(config: AgentConfig): Executor {
  const executor = config.executor ?? DEFAULTS.executor;
  if (typeof executor !== 'string') return executor;
  const workdir = config.workdir ?? process.cwd();
  const testTimeoutMs = config.testTimeoutMs ?? DEFAULTS.testTimeoutMs;
  const installTimeoutMs = config.installTimeoutMs ?? DEFAULTS.installTimeoutMs;
  switch (executor) {
    case 'appwright':
      return new AppwrightExecutor({
        workdir,
        project: config.project,
        testTimeoutMs,
        installCommand: config.installCommand ?? DEFAULTS.installCommand,
        installTimeoutMs,
        localParallel: config.localParallel,
        appiumCommand: config.appiumCommand,
        appiumPort: config.appiumPort,
        adb: config.adb,
      });
    case 'command':
      if (!config.command) throw new TypeError('the command executor needs a command template');
      return new CommandExecutor({
        template: config.command,
        workdir,
        testTimeoutMs,
        installCommand: config.installCommand,
        installTimeoutMs,
      });
    case 'simulate':
      return new SimulateExecutor({
        testMs: config.simTestMs ?? DEFAULTS.simTestMs,
        installMs: config.simInstallMs ?? DEFAULTS.simInstallMs,
        fail: statelessRegExp(config.simFail),
        testTimeoutMs,
      });
  }
}

/** A RegExp whose test() does not depend on the previous call (no g or y flag). */
function statelessRegExp(pattern: RegExp | string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined;
  if (typeof pattern === 'string') return new RegExp(pattern);
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
}
