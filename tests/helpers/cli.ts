/**
 * Runs the qgjob CLI from its sources in a child process, the way a user or CI script
 * would: stdin closed, NO_COLOR unset, and no QGJOB_* variables leaking in from the
 * developer's shell (pass them in `env` when a test wants them). The CLI and the
 * @qgjob/* packages it imports run from their TypeScript sources through tsx.
 */
import { fileURLToPath } from 'node:url';
import { runCommand, TSX } from './process.js';

export interface CliResult {
  /** Exit code, or null when the process was killed (e.g. after timeoutMs). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the CLI after this long. Default 20 s. */
  timeoutMs?: number;
}

const MAIN = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url));
// Its `paths` point @qgjob/* at the sources, as vitest.config.ts does: no build needed first.
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.tests.json', import.meta.url));

const SCRUBBED = [
  'NO_COLOR',
  'FORCE_COLOR',
  'QGJOB_SERVER',
  'QGJOB_TOKEN',
  'QGJOB_DEBUG',
  'QGJOB_POLL_INTERVAL_MS',
  // Running inside GitHub Actions, the CLI would write to the real job summary and outputs.
  'GITHUB_ACTIONS',
  'GITHUB_STEP_SUMMARY',
  'GITHUB_OUTPUT',
];

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SCRUBBED) delete env[name];
  env.TSX_TSCONFIG_PATH = TSCONFIG;
  Object.assign(env, opts.env);
  return runCommand(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: opts.cwd,
    env,
    timeoutMs: opts.timeoutMs ?? 20_000,
  });
}
