/**
 * Wakes long-polling claims when work may have appeared. After a transaction that
 * queued jobs commits, `queued(target)` wakes this server's waiters at once and sends
 * one NOTIFY on `qgjob_queued` (payload: the target and how many jobs) for the other
 * replicas, which all LISTEN: after the commit, coalesced per target (see notifier.ts).
 * Waiters also re-check after a short poll, the fallback if a notification is missed.
 */
import type { Target } from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import { notifyQueued } from '../store/jobs.js';
import { CoalescedNotifier } from './notifier.js';

export class Wakeups {
  private readonly waiters = new Map<Target, Set<() => void>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly db: Db) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen('qgjob_queued', (payload) => {
      const [target, count] = payload.split(':');
      this.wake(target as Target, Number(count) || Number.POSITIVE_INFINITY);
    });
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
  }

  /** Jobs queued per target, summed until the NOTIFY goes out. */
  private readonly notifier = new CoalescedNotifier<Target, number>(
    (pending, count) => (pending ?? 0) + count,
    (target, count) => notifyQueued(this.db, target, count),
  );

  /**
   * Call after a commit that queued `count` jobs for `target`. Wakes that many waiters
   * (longest waiting first), not all: one job woken for by 64 devices is 63 wasted claims.
   */
  queued(target: Target, count = Number.POSITIVE_INFINITY): void {
    this.wake(target, count);
    this.notifier.add(target, count);
  }

  /** Wakes up to `count` waiters for `target`. */
  wake(target: Target, count = Number.POSITIVE_INFINITY): void {
    const set = this.waiters.get(target);
    if (!set) return;
    let left = count;
    for (const w of [...set]) {
      if (left-- <= 0) break;
      w();
    }
  }

  /** Resolves when `target` may have new work, after `ms`, or when `signal` aborts. */
  wait(target: Target, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(target);
      if (!set) {
        set = new Set();
        this.waiters.set(target, set);
      }
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
