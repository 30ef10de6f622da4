/**
 * Conditional reads that may wait: the document a client already has is named by its ETag
 * (If-None-Match); with `wait`, a read whose document is unchanged is held until a job of it
 * changes status, the wait ends, the client hangs up or the server shuts down. While it waits
 * the request holds no database connection: it sleeps on a JobChanges watch, woken at once by
 * a change on this server or (PostgreSQL) a notification from another, and re-reads every
 * `recheckMs` in case a notification was missed.
 */

import { createHash } from 'node:crypto';
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
  /** The If-None-Match header, if any. */
  ifNoneMatch: string | undefined;
  /** How long an unchanged document may be held; 0 answers at once. */
  waitMs: number;
  signal: AbortSignal;
}

export interface Held<T> {
  doc: T;
  etag: string;
  /** False: the client's copy (If-None-Match) is still current. */
  changed: boolean;
}

/** A weak validator: the same document gives the same tag on every job-server. */
export function etagOf(doc: unknown): string {
  return `W/"${createHash('sha256').update(JSON.stringify(doc)).digest('base64url').slice(0, 27)}"`;
}

/** Whether an If-None-Match header names this tag (weak comparison, RFC 9110 13.1.2). */
export function matchesTag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === wanted);
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
    let etag = etagOf(doc);
    if (!matchesTag(request.ifNoneMatch, etag)) return { doc, etag, changed: true };
    const unchanged = () => ({ doc, etag, changed: false });
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
        etag = etagOf(doc);
        if (!matchesTag(request.ifNoneMatch, etag)) return { doc, etag, changed: true };
      }
    } finally {
      watch.close();
    }
  }
}
