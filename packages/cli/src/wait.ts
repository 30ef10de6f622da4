/**
 * The polling loop behind `qgjob wait` and `submit --wait`.
 *
 * States: polling → (every job terminal) done | (deadline passed) timed out | (signal) interrupted.
 * A poll whose server holds it until something changes (`poll.live()` true afterwards) is
 * followed by the next one at once; otherwise the loop pauses `intervalMs` between polls.
 * A poll that fails with a transient error (server restarting, network blip) does not end the
 * wait: the loop keeps polling until errors have lasted `toleranceMs`, then gives up with that
 * error. The loop returns on timeout instead of throwing so the caller can still report what
 * finished.
 */
import { isTerminal, type JobSummary } from '@qgjob/protocol';
import { InterruptedError } from './errors.js';

/** What the loop tells a poll: how long it may take at most, and when to give up. */
export interface PollHint {
  /** Until the wait's deadline (Infinity without one). */
  waitMs: number;
  /** Aborts on interrupt, and when the deadline passes while the poll is in flight. */
  signal: AbortSignal;
}

/** Current state of every watched job, in a stable order. */
export interface Poll {
  (hint?: PollHint): Promise<JobSummary[]>;
  /** True when the last poll was held by the server until something changed: poll again at once. */
  live?: () => boolean;
}

export interface WaitOptions {
  /** Current state of every watched job, in a stable order. */
  poll: Poll;
  intervalMs: number;
  timeoutMs?: number;
  signal: AbortSignal;
  onUpdate?: (jobs: readonly JobSummary[], elapsedMs: number) => void;
  /** Called when a poll failed but the wait goes on. */
  onTrouble?: (error: unknown) => void;
  isTransient?: (error: unknown) => boolean;
  toleranceMs?: number;
  now?: () => number;
}

export interface WaitResult {
  jobs: JobSummary[];
  elapsedMs: number;
  timedOut: boolean;
}

const INTERRUPTED = 'interrupted — the jobs keep running on the server';
/** Live polls still start at most this often. */
const MIN_GAP_MS = 20;

export function pollIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.QGJOB_POLL_INTERVAL_MS);
  return Number.isFinite(n) && n > 0 ? n : 1000;
}

export function allTerminal(jobs: readonly JobSummary[]): boolean {
  return jobs.every((job) => isTerminal(job.status));
}

/** Resolves after `ms`, or early when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Settles like `promise`, or resolves to `late` once `ms` has passed. */
async function within<T, L>(promise: Promise<T>, ms: number, late: L): Promise<T | L> {
  if (!Number.isFinite(ms)) return promise;
  // The losing poll may still fail later; that failure no longer matters.
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitForJobs(options: WaitOptions): Promise<WaitResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + options.timeoutMs;
  const tolerance = options.toleranceMs ?? 30_000;
  const late = Symbol('late');
  let jobs: JobSummary[] = [];
  let troubleSince: number | undefined;

  for (;;) {
    if (options.signal.aborted) throw new InterruptedError(INTERRUPTED);
    const polledAt = now();
    let again = false;
    const stop = new AbortController();
    try {
      const signal = AbortSignal.any([options.signal, stop.signal]);
      const polled = await within(options.poll({ waitMs: deadline - polledAt, signal }), deadline - now(), late);
      if (polled === late) return { jobs, elapsedMs: now() - started, timedOut: true };
      jobs = polled;
      troubleSince = undefined;
      options.onUpdate?.(jobs, now() - started);
      if (allTerminal(jobs)) return { jobs, elapsedMs: now() - started, timedOut: false };
      again = options.poll.live?.() === true;
    } catch (error) {
      if (options.signal.aborted) throw new InterruptedError(INTERRUPTED, { cause: error });
      if (!options.isTransient?.(error)) throw error;
      troubleSince ??= now();
      if (now() - troubleSince >= tolerance) throw error;
      options.onTrouble?.(error);
    } finally {
      // A poll still held (the deadline passed) is let go.
      stop.abort();
    }
    const remaining = deadline - now();
    if (remaining <= 0) return { jobs, elapsedMs: now() - started, timedOut: true };
    const gap = again ? MIN_GAP_MS - (now() - polledAt) : options.intervalMs;
    if (gap > 0) await pause(Math.min(gap, remaining), options.signal);
  }
}
