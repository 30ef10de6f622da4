/**
 * Child processes for tests and benchmarks: running a command to its end with its output,
 * and starting real job-server processes (from the sources) for crash and restart tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SERVER_MAIN = fileURLToPath(new URL('../../packages/server/src/main.ts', import.meta.url));
/** tsx, resolved from here, not from a child's cwd, so children may run in a temporary directory. */
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | NodeJS.Signals | null>;
}

/** A job-server process from the sources; `--open` unless `open: false` (then give credentials). */
export async function spawnServer(
  args: string[],
  env: Record<string, string> = {},
  options: { open?: boolean; cwd?: string } = {},
): Promise<ServerProcess> {
  const base = options.open === false ? ['--port=0'] : ['--port=0', '--open'];
  const child = spawn(process.execPath, ['--import', TSX, SERVER_MAIN, ...base, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`job-server did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stderr?.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`job-server exited before listening:\n${out}`));
    });
  });
  return { url, child, output: () => out, exited };
}

export interface CommandResult {
  /** Exit code, or null when the process was killed (e.g. after timeoutMs). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with stdin closed, collecting its output; SIGKILLed after `timeoutMs`. */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? process.cwd(),
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timeoutMs = options.timeoutMs ?? Number.POSITIVE_INFINITY;
    const timer = Number.isFinite(timeoutMs) ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
