/**
 * The one interface every way of executing tests implements. An executor never talks to
 * the server: it installs and runs, and says how it went; the batch runner reports.
 */
import type { Batch, BatchJob, DeviceSpec, FinishStatus } from '@qgjob/protocol';

export interface ExecContext {
  batch: Batch;
  /** The device slot as this host names it (adb serial, BrowserStack slot, ...). */
  device: DeviceSpec;
  /** Local build file (downloaded to the cache, or from --app-path) or `bs://` URL. */
  appPath: string;
  /** Where this test runs: its unpacked test bundle. Unset: the executor's --workdir. */
  workdir?: string;
}

export interface InstallOutcome {
  ok: boolean;
  duration_ms: number;
  error?: string;
}

export interface RunOutcome {
  /** passed/failed: the test's own verdict; errored: the infrastructure failed. */
  status: FinishStatus;
  duration_ms: number;
  error?: string;
  /** Files the test left (screenshots, videos, traces), uploaded with the run. */
  artifacts?: RunArtifacts;
}

export interface RunArtifacts {
  /** `name`: the file's path under the run's output directory (POSIX). */
  files: Array<{ name: string; path: string; contentType?: string }>;
  /** Removes them once uploaded. */
  discard(): Promise<void>;
}

/** A device readied for a batch (`Executor.prepare`), or why it could not be. */
export type Prepared = { ok: true; close(): Promise<void> } | { ok: false; error: string };

export interface StartupNote {
  level: 'info' | 'warn';
  message: string;
  fields?: Record<string, unknown>;
}

/** Receives output as it is produced (decoded UTF-8, split anywhere but inside a character). */
export type OutputSink = (stream: 'stdout' | 'stderr', text: string) => void;

export interface Executor {
  readonly name: string;
  /** False when it never runs the test's code (simulate): a bundle's npm dependencies are then not installed. */
  readonly runsTests?: boolean;
  /**
   * Readies the device before a batch (checks it is there, starts what its tests talk to);
   * not ok: the batch's jobs error and no test runs. `close` undoes it after the batch.
   */
  prepare?(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<Prepared>;
  /** What the agent says about this executor when it starts (versions found, limits). */
  startupNotes?(): StartupNote[];
  /** Releases what the executor holds for the agent's lifetime (a listening port). */
  close?(): Promise<void>;
  /** Puts the batch's app on the device. Aborting `signal` kills the install. */
  install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome>;
  /** Runs one test. Never throws; aborting `signal` kills it and yields `errored`. */
  run(job: BatchJob, ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome>;
}

/** Longest `error` the protocol accepts. */
export const MAX_ERROR_CHARS = 4000;
