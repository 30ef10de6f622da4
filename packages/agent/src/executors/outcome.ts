/**
 * How a finished process maps to a verdict. Only the test decides passed or failed (its
 * exit code); anything that kept it from deciding — could not start, timed out, killed —
 * is `errored`, an infrastructure failure the server may retry elsewhere.
 */

import { formatDuration } from '../duration.js';
import { describe } from '../errors.js';
import type { ProcessResult } from './process.js';
import { type InstallOutcome, MAX_ERROR_CHARS, type RunOutcome } from './types.js';

export interface OutcomeOptions {
  /** What ran, for messages: `npx appwright`, `command`, `install command`. */
  what: string;
  timeoutMs: number;
  /** Run through /bin/sh: exit 126/127 mean the command could not be run at all. */
  viaShell?: boolean;
}

export function runOutcome(result: ProcessResult, options: OutcomeOptions): RunOutcome {
  const { end, output, duration_ms } = result;
  if (end.kind === 'exit' && end.code === 0) return { status: 'passed', duration_ms };
  const problem = infrastructureProblem(result, options);
  if (problem) return { status: 'errored', duration_ms, error: withOutput(problem, output) };
  return { status: 'failed', duration_ms, error: withOutput(failureMessage(result, options), output) };
}

export function installOutcome(result: ProcessResult, options: OutcomeOptions): InstallOutcome {
  const { end, output, duration_ms } = result;
  if (end.kind === 'exit' && end.code === 0) return { ok: true, duration_ms };
  return { ok: false, duration_ms, error: withOutput(failureMessage(result, options), output) };
}

/** What went wrong with a process that did not exit 0, in one sentence naming `options.what`. */
export function failureMessage(result: ProcessResult, options: OutcomeOptions): string {
  const { end } = result;
  return (
    infrastructureProblem(result, options) ?? `${options.what} exited with code ${end.kind === 'exit' ? end.code : -1}`
  );
}

function infrastructureProblem(result: ProcessResult, options: OutcomeOptions): string | undefined {
  const { end } = result;
  switch (end.kind) {
    case 'spawn-error':
      return `could not start ${options.what}: ${end.error.message}`;
    case 'timeout':
      return `${options.what} timed out after ${formatDuration(options.timeoutMs)} and was killed`;
    case 'aborted':
      return `${options.what} was killed: ${describe(end.reason)}`;
    case 'signal':
      return `${options.what} was killed by ${end.signal}`;
    case 'exit':
      if (options.viaShell && (end.code === 126 || end.code === 127)) {
        return `${options.what} could not be run (exit ${end.code}: command not found or not executable)`;
      }
      return undefined;
  }
}

/** `message`, then the end of the output, within the protocol's limit. */
export function withOutput(message: string, output: string): string {
  const trimmed = output.trim();
  if (!trimmed) return message.slice(0, MAX_ERROR_CHARS);
  const head = `${message.slice(0, 1000)}\n--- last output ---\n`;
  const room = MAX_ERROR_CHARS - head.length;
  return trimmed.length <= room ? head + trimmed : `${head}…${trimmed.slice(trimmed.length - room + 1)}`;
}
