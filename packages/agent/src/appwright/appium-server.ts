/**
 * The Appium server of one device for one batch: started before the batch's first test
 * (`--appium-command`, default `npx appium`, in the batch's working directory so it is the
 * Appium that the tests' AppWright depends on, with `--address 127.0.0.1 --port N`
 * appended), stopped after its last. Its whole process group is stopped, so nothing it
 * started outlives the batch.
 *
 * States: starting → ready (the listener line was printed, or GET /status answered)
 * → stopped; or starting → failed (exited, or not ready in time: the batch's jobs error).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { groupAlive, terminateGroup } from '../executors/process-group.js';
import type { OutputSink } from '../executors/types.js';
import { sleep } from '../sleep.js';

export interface AppiumServerOptions {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  startTimeoutMs: number;
  killGraceMs?: number;
  output?: OutputSink;
  signal: AbortSignal;
}

export interface AppiumServer {
  url: string;
  stop(): Promise<void>;
}

const READY_LINE = 'Appium REST http interface listener started';
const TAIL = 2000;

export async function startAppium(options: AppiumServerOptions): Promise<AppiumServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('/bin/sh', ['-c', `${options.command} --address 127.0.0.1 --port ${port}`], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid;
  const stop = async () => {
    if (pgid !== undefined && groupAlive(pgid)) await terminateGroup(pgid, options.killGraceMs ?? 5000);
  };
  let tail = '';
  let ready = false;
  let exited: string | undefined;
  for (const [name, stream] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      tail = (tail + text).slice(-TAIL);
      if (tail.includes(READY_LINE)) ready = true;
      options.output?.(name, text);
    });
  }
  child.once('error', (error) => {
    exited = error.message;
  });
  child.once('exit', (code, signal) => {
    exited = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
  });
  const deadline = Date.now() + options.startTimeoutMs;
  while (!ready) {
    if (exited !== undefined || options.signal.aborted || Date.now() > deadline) {
      await stop();
      const why =
        exited ?? (options.signal.aborted ? 'was stopped' : `was not ready after ${options.startTimeoutMs} ms`);
      throw new Error(
        `Appium (${options.command}) ${why} before it listened on ${url}${tail ? `:\n${tail.trim()}` : ''}`,
      );
    }
    ready = await answers(`${url}/status`);
    if (!ready) await sleep(100);
  }
  return { url, stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
