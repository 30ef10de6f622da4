/**
 * Wakes the requests that wait for a job's status to change (`?wait=` on a submission or a
 * set of jobs). After a transaction that moved jobs commits, `changed(ids)` wakes this
 * server's waiters on those jobs at once and, with PostgreSQL, sends the ids on
 * `qgjob_job_changed` for the other replicas, which all LISTEN: after the commit, coalesced
 * (see notifier.ts), so the ids changed within a few milliseconds go out together, split
 * over as many NOTIFYs as their length needs. Waiters re-check after a short poll as well,
 * the fallback if a notification is missed.
 *
 * Waiters are indexed by job id: marking jobs changed costs the number of waiters on those
 * jobs, however many jobs the queue holds.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/db.js';
import { notifyJobsChanged } from '../store/jobs.js';
import { CoalescedNotifier } from './notifier.js';

export const JOB_CHANGED_CHANNEL = 'qgjob_job_changed';
/** A NOTIFY payload must stay under 8,000 bytes. */
const MAX_PAYLOAD = 7_000;

/** One waiting request's registration; `fired` is set by the first change after it began. */
export interface Watch {
  /** True once one of the watched jobs (may have) changed. */
  readonly fired: boolean;
  /** Resolves when a watched job changes, after `ms`, or when `signal` aborts. */
  next(ms: number, signal?: AbortSignal): Promise<void>;
  /** Forget the registration; call it exactly once, when the request ends. */
  close(): void;
}

class Waiter implements Watch {
  fired = false;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly release: (w: Waiter) => void) {}

  fire(): void {
    this.fired = true;
    this.wakeUp?.();
  }

  next(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.fired || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakeUp = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Makes the next `next()` wait again. */
  rearm(): void {
    this.fired = false;
  }

  close(): void {
    this.wakeUp?.();
    this.release(this);
  }
}

export class JobChanges {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly ids = new WeakMap<Waiter, readonly string[]>();
  private count = 0;
  /** Goes up with every change seen; a reader compares it before and after registering. */
  private seq = 0;
  /** One key, the channel: every id changed goes out together, in as many payloads as needed. */
  private readonly notifier = new CoalescedNotifier<typeof JOB_CHANGED_CHANNEL, Set<string>>(
    (pending, ids) => {
      if (!pending) return ids;
      for (const id of ids) pending.add(id);
      return pending;
    },
    (_channel, ids) => this.send([...ids]),
  );
  private unlisten: (() => Promise<void>) | undefined;
  /** Tells this server's own notifications apart from the other replicas'. */
  private readonly origin = randomBytes(6).toString('hex');

  constructor(private readonly db: Db) {}

  /** Other replicas exist only on PostgreSQL. */
  private get shared(): boolean {
    return this.db.kind === 'postgres';
  }

  async start(): Promise<void> {
    if (!this.shared) return;
    this.unlisten = await this.db.listen(JOB_CHANGED_CHANNEL, (payload) => {
      const [origin, list] = payload.split('|');
      if (origin === this.origin || !list) return;
      this.wake(list.split(','));
    });
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.fire();
  }

  /** How many requests wait (for tests and metrics). */
  get waiting(): number {
    return this.count;
  }

  /** The change counter, read before a request reads the state it will wait on. */
  get version(): number {
    return this.seq;
  }

  /** Call after a commit that may have changed the status of these jobs. */
  changed(ids: Iterable<string>): void {
    const list = [...ids];
    if (list.length === 0) return;
    this.wake(list);
    if (this.shared) this.notifier.add(JOB_CHANGED_CHANNEL, new Set(list));
  }

  /** Sends the ids in payloads under MAX_PAYLOAD, one after the other. */
  private async send(ids: string[]): Promise<void> {
    let chunk: string[] = [];
    let size = 0;
    const send = (list: string[]) =>
      notifyJobsChanged(this.db, `${this.origin}|${list.join(',')}`).catch(() => {
        // Other replicas fall back to their re-check; nothing is lost.
      });
    for (const id of ids) {
      if (size + id.length + 1 > MAX_PAYLOAD && chunk.length > 0) {
        await send(chunk);
        chunk = [];
        size = 0;
      }
      chunk.push(id);
      size += id.length + 1;
    }
    if (chunk.length > 0) await send(chunk);
  }

  private wake(ids: readonly string[]): void {
    this.seq++;
    for (const id of ids) {
      const set = this.waiters.get(id);
      if (set) for (const w of set) w.fire();
    }
  }

  /**
   * Registers a waiter on these jobs. `since` is `version` as read before the caller read the
   * jobs' state: a change between that read and this registration fires the watch at once
   * (conservatively: any change at all in between).
   */
  watch(jobIds: readonly string[], since: number): Watch & { rearm(): void } {
    const unique = [...new Set(jobIds)];
    const waiter = new Waiter((w) => this.forget(w));
    this.ids.set(waiter, unique);
    this.count++;
    for (const id of unique) {
      let set = this.waiters.get(id);
      if (!set) {
        set = new Set();
        this.waiters.set(id, set);
      }
      set.add(waiter);
    }
    if (this.seq !== since) waiter.fire();
    return waiter;
  }

  private forget(waiter: Waiter): void {
    if (!this.ids.has(waiter)) return;
    this.count--;
    for (const id of this.ids.get(waiter) ?? []) {
      const set = this.waiters.get(id);
      if (!set) continue;
      set.delete(waiter);
      if (set.size === 0) this.waiters.delete(id);
    }
    this.ids.delete(waiter);
  }
}
