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
}

/** Receives output as it is produced (decoded UTF-8, split anywhere but inside a character). */
export type OutputSink = (stream: 'stdout' | 'stderr', text: string) => void;

export interface Executor {
  readonly name: string;
  /** False when it never runs the test's code (simulate): a bundle's npm dependencies are then not installed. */
  readonly runsTests?: boolean;
  /** Puts the batch's app on the device. Aborting `signal` kills the install. */
  install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome>;
  /** Runs one test. Never throws; aborting `signal` kills it and yields `errored`. */
  run(job: BatchJob, ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome>;
}

/** Longest `error` the protocol accepts. */
export const MAX_ERROR_CHARS = 4000;
