/** Starting real job-server processes (from the sources) for crash and restart tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER_MAIN = fileURLToPath(new URL('../../packages/server/src/main.ts', import.meta.url));

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
  options: { open?: boolean } = {},
): Promise<ServerProcess> {
  const base = options.open === false ? ['--port=0'] : ['--port=0', '--open'];
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_MAIN, ...base, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
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
