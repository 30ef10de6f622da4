/**
 * The agent as a library: tests and the demo start agents in-process with startAgent();
 * the executors and their option types are here for anyone embedding one.
 */
import type { RegisterResponse } from '@qgjob/protocol';
import { Agent } from './agent.js';
import type { AgentConfig } from './config.js';

export { Agent } from './agent.js';
export { type BatchRunnerOptions, type BatchSummary, runBatch } from './batch-runner.js';
export {
  BrowserStackApi,
  type BrowserStackCredentials,
  BrowserStackError,
  credentialsFromEnv,
  DEFAULT_BROWSERSTACK_API,
} from './browserstack.js';
export { ArtifactCache, CacheError, type CacheOptions } from './cache/index.js';
export { type AgentConfig, createExecutor, DEFAULTS, defaultCacheDir, EXECUTORS, type ExecutorName } from './config.js';
export * from './errors.js';
export { DEFAULT_APP_PATH, resolveAppPath } from './executors/app-path.js';
export { AppwrightExecutor, type AppwrightOptions } from './executors/appwright.js';
export { CommandExecutor, type CommandOptions } from './executors/command.js';
export { DEFAULT_INSTALL_COMMAND } from './executors/install.js';
export { SimulateExecutor, type SimulateOptions } from './executors/simulate.js';
export type { ExecContext, Executor, InstallOutcome, RunOutcome } from './executors/types.js';
export { type ParsedFlags, parseDevice, parseFlags } from './flags.js';
export { createLogger, type Logger, type LoggerOptions, type LogLevel, silentLogger } from './log.js';
export { type Provisioned, Provisioner, type ProvisionerOptions } from './provision.js';
export { Reporter, type ReporterOptions } from './reporter.js';
export { VERSION } from './version.js';

export interface RunningAgent {
  agent: Agent;
  /** Resolves once registered; rejects if the server refuses the agent or it stops first. */
  ready: Promise<RegisterResponse>;
  /** Resolves once the agent has stopped; rejects if the server refused it. */
  done: Promise<void>;
  /** Graceful: running tests finish (within the grace period), unstarted jobs go back. */
  stop(): Promise<void>;
  /** Forced: running tests are killed, nothing more is reported. */
  kill(): void;
}

export function startAgent(config: AgentConfig): RunningAgent {
  const agent = new Agent(config);
  const done = agent.start();
  // Handled here so that a caller who only calls stop() sees no unhandled rejection.
  done.catch(() => {});
  return { agent, ready: agent.ready, done, stop: () => agent.stop(), kill: () => agent.kill() };
}
