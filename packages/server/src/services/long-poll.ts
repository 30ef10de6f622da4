/**
 * Reads that may wait: when the client already has the document (the caller tells, e.g. from
 * an HTTP ETag), a read whose document is unchanged is held until a job of it
 * changes status, the wait ends, the client hangs up or the server shuts down. While it waits
 * the request holds no database connection: it sleeps on a JobChanges watch, woken at once by
 * a change on this server or (PostgreSQL) a notification from another, and re-reads every
 * `recheckMs` in case a notification was missed.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { JobChanges } from './job-changes.js';

export interface LongPollOptions {
  /** Re-read this often while waiting, the fallback for a missed notification. Default 1 s. */
  recheckMs?: number;
  /** After a wake, wait this long for the rest of a report's changes before reading. Default 10 ms. */
  settleMs?: number;
}

export interface HoldRequest<T> {
  read: () => Promise<T>;
  /** The jobs whose status the document shows. */
  jobIds: (doc: T) => readonly string[];
  /** Whether the client already has this document. */
  current: (doc: T) => boolean;
  /** How long an unchanged document may be held; 0 answers at once. */
  waitMs: number;
  signal: AbortSignal;
}

export interface Held<T> {
  doc: T;
  /** False: the client's copy is still current. */
  changed: boolean;
}

/** Resolves after `ms`, or early when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {});
}

export class LongPolls {
  private readonly recheckMs: number;
  private readonly settleMs: number;

  constructor(
    private readonly changes: JobChanges,
    options: LongPollOptions = {},
  ) {
    this.recheckMs = options.recheckMs ?? 1_000;
    this.settleMs = options.settleMs ?? 10;
  }

  /** Reads the document; when the client has it already, waits up to `waitMs` for it to change. */
  async hold<T>(request: HoldRequest<T>): Promise<Held<T>> {
    const since = this.changes.version;
    let doc = await request.read();
    if (!request.current(doc)) return { doc, changed: true };
    const unchanged = () => ({ doc, changed: false });
    if (request.waitMs <= 0 || request.signal.aborted) return unchanged();
    const deadline = Date.now() + request.waitMs;
    const watch = this.changes.watch(request.jobIds(doc), since);
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0 || request.signal.aborted) return unchanged();
        await watch.next(Math.min(left, this.recheckMs), request.signal);
        if (request.signal.aborted) return unchanged();
        if (watch.fired) await pause(this.settleMs, request.signal);
        else if (Date.now() >= deadline) return unchanged();
        // Re-armed before the read: a change while reading fires it again.
        watch.rearm();
        doc = await request.read();
        if (!request.current(doc)) return { doc, changed: true };
      }
    } finally {
      watch.close();
    }
  }
}
