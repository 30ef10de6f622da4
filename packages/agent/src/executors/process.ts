/**
 * Runs one child process the way a test must run: in its own process group, with a
 * timeout, killable through an AbortSignal, and keeping only the tail of its output for
 * the error message (all of it goes to `onOutput` as it comes, for the run's log). When it ends, whatever it left running in its group is terminated
 * too, so the next test on the device starts clean.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ForcedStopError } from '../errors.js';
import { sleep } from '../sleep.js';
import { groupAlive, killGroup, terminateGroup } from './process-group.js';
import type { OutputSink } from './types.js';

export interface ProcessSpec {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal;
  /** Between SIGTERM and SIGKILL. Default 5 s. */
  killGraceMs?: number;
  /** Output kept for the error message. Default 3500 characters. */
  tailChars?: number;
  /** Every piece of output as it is read. */
  onOutput?: OutputSink;
}

export type ProcessEnd =
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: NodeJS.Signals }
  | { kind: 'spawn-error'; error: Error }
  | { kind: 'timeout' }
  | { kind: 'aborted'; reason: unknown };

export interface ProcessResult {
  end: ProcessEnd;
  /** The last `tailChars` of stdout and stderr, interleaved. */
  output: string;
  duration_ms: number;
}

export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const killGraceMs = spec.killGraceMs ?? 5000;
  const tailChars = spec.tailChars ?? 3500;
  let output = '';
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-tailChars);
  };
  if (spec.signal.aborted) {
    return Promise.resolve({ end: { kind: 'aborted', reason: spec.signal.reason }, output, duration_ms: 0 });
  }

  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawnInGroup(spec);
    } catch (error) {
      resolve({ end: { kind: 'spawn-error', error: asError(error) }, output, duration_ms: elapsed() });
      return;
    }
    const pgid = child.pid;
    let stopping: ProcessEnd | undefined;
    let terminating: Promise<boolean> | undefined;
    let settled = false;

    const stop = (end: ProcessEnd, hard: boolean) => {
      if (stopping) {
        if (hard && pgid !== undefined) killGroup(pgid, 'SIGKILL');
        return;
      }
      stopping = end;
      if (pgid !== undefined) terminating = terminateGroup(pgid, killGraceMs, hard);
    };
    const timer = setTimeout(() => stop({ kind: 'timeout' }, false), spec.timeoutMs);
    const onAbort = () =>
      stop({ kind: 'aborted', reason: spec.signal.reason }, spec.signal.reason instanceof ForcedStopError);
    spec.signal.addEventListener('abort', onAbort, { once: true });
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    readOutput(child, keep, spec.onOutput);

    const settle = (end: ProcessEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ end, output, duration_ms: elapsed() });
    };

    child.once('error', (error) => {
      // With a pid the process exists and 'exit' follows; without one it never started.
      if (pgid === undefined) settle({ kind: 'spawn-error', error });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const end: ProcessEnd =
        stopping ??
        (code !== null ? { kind: 'exit', code } : { kind: 'signal', signal: signal ?? ('SIGKILL' as const) });
      void (async () => {
        if (terminating) await terminating;
        else if (pgid !== undefined && groupAlive(pgid)) await terminateGroup(pgid, killGraceMs);
        // A grandchild that left the group may still hold the pipes: do not wait on it for long.
        await Promise.race([closed, sleep(1000)]);
        settle(end);
      })();
    });
  });
}

/** The child leads a process group of its own (detached), so the whole group can be stopped. */
function spawnInGroup(spec: ProcessSpec): ChildProcess {
  return spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Every piece of stdout and stderr to `keep` (the tail) and to `onOutput` (the run's log). */
function readOutput(child: ChildProcess, keep: (chunk: string) => void, onOutput: OutputSink | undefined): void {
  for (const [name, stream] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ] as const) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      keep(chunk);
      onOutput?.(name, chunk);
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
